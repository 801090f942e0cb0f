//! The `arv-keepdocker` binary: parse the command line, dispatch, and map
//! every outcome to an exit status. This is the only place that decides exit
//! statuses.

#![forbid(unsafe_code)]

use std::io::Write;
use std::process::ExitCode;

use arv_keepdocker::internal::cli::{self, doc, CliError, Env, Parsed};
use arv_keepdocker::internal::log::{self, Level};
use arv_keepdocker::internal::run;

fn main() -> ExitCode {
    log::set_sink(Some(log::stderr_sink()));
    let mut argv = std::env::args_os();
    let prog = cli::prog_name(argv.next().as_deref());
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
