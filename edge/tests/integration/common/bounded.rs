//! Running a binary that must end by itself: a regression that makes it block (on a FIFO,
//! say) fails the test after a generous bound instead of hanging CI. Shared by both
//! packages' tests like `scratch.rs` (the tests package includes it by path).

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Run `cmd` (stdin closed, stdout dropped), kill it if it is still running after
/// `bound`, and fail the test then; returns its exit code (-1 when a signal ended it)
/// and stderr.
pub fn run_within(cmd: &mut Command, bound: Duration) -> (i32, String) {
    match wait_within(cmd, bound) {
        (Some(status), stderr) => (status.code().unwrap_or(-1), stderr),
        (None, _) => panic!("{cmd:?} was still running after {bound:?} (killed): it blocked"),
    }
}

/// Run `cmd` (stdin closed, stdout dropped) for at most `bound`: its exit status, or
/// `None` when it was still running then (it is killed), and its stderr. For tests that
/// report a hang as one outcome among others rather than failing on it.
pub fn wait_within(cmd: &mut Command, bound: Duration) -> (Option<ExitStatus>, String) {
    let mut child = (cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped()))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    // Read stderr on the side so a chatty child cannot fill the pipe and stall.
    let mut pipe = child.stderr.take().expect("piped above");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = pipe.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > bound {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status, reader.join().unwrap_or_default())
}
