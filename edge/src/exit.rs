//! How both binaries end: exit 0 on success, 2 for a usage error (clap's or one found
//! after parsing), 1 for a failure, with the error printed as one chained line.

use anyhow::Result;

/// A request that cannot be right (a setting out of its range, checked after the command
/// line was parsed): the binaries exit 2 for it, as for the usage errors clap finds.
#[derive(Debug)]
pub struct UsageError(pub anyhow::Error);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl std::error::Error for UsageError {}

/// Mark an error as a usage error (exit 2).
pub fn usage(e: anyhow::Error) -> anyhow::Error {
    anyhow::Error::new(UsageError(e))
}

/// End a binary: `Ok` exits 0, an error prints as one chained line (`error: a: b: c`)
/// and exits 1 (2 for a [`UsageError`]), so users see the file and the reason, not a
/// debug dump.
pub fn exit_code(result: Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            match e.chain().any(|c| c.is::<UsageError>()) {
                true => std::process::ExitCode::from(2),
                false => std::process::ExitCode::FAILURE,
            }
        }
    }
}
