//! The `arv-keepdocker` binary: parse the command line, dispatch, and map
//! every outcome to an exit status. This is the only place that decides exit
//! statuses.
//!
//! Started as `arv-docker` (a link to this binary; the basename of argv\[0\]
//! decides), it reads the docker-like commands instead (`cli::docker`,
//! whose module comment says why one binary serves both names); both run
//! the same request through the same `run`.

#![forbid(unsafe_code)]

use std::io::Write;
use std::process::ExitCode;

use arv_keepdocker::internal::cli::docker::{self, DockerEnv, DockerError, DockerParsed};
use arv_keepdocker::internal::cli::{self, doc, CliError, Env, Parsed};
use arv_keepdocker::internal::log::{self, Level};
use arv_keepdocker::internal::run;

fn main() -> ExitCode {
    log::set_sink(Some(log::stderr_sink()));
    let mut argv = std::env::args_os();
    let prog = cli::prog_name(argv.next().as_deref());
    if prog == docker::PROG {
        return arv_docker(&prog, argv);
    }
    let args = match cli::parse(argv) {
        Ok(Parsed::Help) => return print(&doc::help(&prog)),
        Ok(Parsed::Version) => return print(&doc::version(&prog)),
        Ok(Parsed::Run(args)) => args,
        Err(err) => return fail(&prog, &err),
    };
    let request = match args.into_request(&Env::detect()) {
        Ok(request) => request,
        Err(err) => return fail(&prog, &err),
    };
    execute(request)
}

/// `arv-docker COMMAND ...`: the same request, the same `run`.
fn arv_docker(prog: &str, argv: std::env::ArgsOs) -> ExitCode {
    let invocation = match docker::parse(argv) {
        Ok(DockerParsed::Help(command)) => return print(&docker::doc::help(prog, command)),
        Ok(DockerParsed::Version) => return print(&doc::version(prog)),
        Ok(DockerParsed::Run(invocation)) => invocation,
        Err(err) => return fail_docker(prog, &err),
    };
    match invocation.into_request(&DockerEnv::detect()) {
        Ok(request) => execute(request),
        Err(err) => fail_docker(prog, &err),
    }
}

/// Runs a request: its output on stdout, errors as ERROR log lines, exit
/// status 1 on failure.
fn execute(request: arv_keepdocker::internal::cli::Request) -> ExitCode {
    let mut stdout = std::io::stdout().lock();
    match run(request, &mut stdout) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let _ = stdout.flush();
            // Errors are ERROR log lines, as the legacy tool logged them; the
            // last line carries the legacy words where there are some.
            if let Some(detail) = err.detail() {
                log::log(err.logger(), Level::Error, &detail);
            }
            log::log(err.logger(), Level::Error, &err.to_string());
            ExitCode::from(1)
        }
    }
}

/// An `arv-docker` usage error: Docker's two lines, exit 2.
fn fail_docker(prog: &str, err: &DockerError) -> ExitCode {
    let DockerError::Usage { command, message } = err;
    let text = docker::doc::usage_error(prog, *command, message);
    let _ = std::io::stderr().write_all(text.as_bytes());
    ExitCode::from(err.exit_code())
}

/// `--help` and `--version` go to stdout, exit status 0 (a closed stdout is
/// not an error worth reporting).
fn print(text: &str) -> ExitCode {
    let _ = std::io::stdout().write_all(text.as_bytes());
    ExitCode::SUCCESS
}

/// Usage errors as argparse prints them (usage block, then
/// `<prog>: error: <message>`, exit 2); the legacy post-parse error with
/// its own status.
fn fail(prog: &str, err: &CliError) -> ExitCode {
    let text = match err {
        CliError::Usage(message) => doc::usage_error(prog, message),
        CliError::TagGivenTwice(_) => {
            log::error(&err.to_string());
            return ExitCode::from(err.exit_code());
        }
    };
    let _ = std::io::stderr().write_all(text.as_bytes());
    ExitCode::from(err.exit_code())
}
