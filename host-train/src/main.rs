//! `facecam-train`: import, train, export and evaluate facecam's face detector and face
//! classifier. The flags are parsed once ([`cli::Cli`]); each subcommand is one small
//! function in `cli/`.

use clap::Parser;

mod cli;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    cli.verbosity.init_logging();
    edge::exit::exit_code(cli::run(cli))
}
