//! The `rockstore` binary: parse arguments, run one command, map errors to an
//! exit status. Everything else lives in the library and `cli/`.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    // LuaRocks exits 1 on a bad command line; clap's own code is 2.
    let args = match cli::parse(cli::cache_cmd::copy_argv(std::env::args_os())) {
        Ok(args) => args,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                cli::report::ExitStatus::Failure.into()
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let env = rockstore::env_vars::EnvVars::from_process();
    rockstore::build::probes::configure(rockstore::build::probes::Host {
        path: env.path.clone(),
        cache: rockstore::config::cache_dir(&env),
    });
    match cli::run(args, &env) {
        Ok(status) => status.into(),
        Err(error) => {
            cli::report::print_error(&error);
            cli::report::ExitStatus::Failure.into()
        }
    }
}
