//! The `rockstore` binary: parse arguments, run one command, map errors to an
//! exit status. Everything else lives in the library and `cli/`.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let env = rockstore::env_vars::EnvVars::from_process();
    match cli::run(args, &env) {
        Ok(status) => status.into(),
        Err(error) => {
            cli::report::print_error(&error);
            cli::report::ExitStatus::Failure.into()
        }
    }
}
