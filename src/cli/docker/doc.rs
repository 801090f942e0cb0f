//! `arv-docker`'s help, version and usage errors, in Docker's layout,
//! generated from the table ([`COMMANDS`], [`FLAGS`]).

use super::{option_strings, Command, DockerFlag, COMMANDS};
use crate::cli::doc::wrap;

/// The program description.
pub const DESCRIPTION: &str = "Docker-like commands for the Docker images in Arvados: store \
                               them, name them in projects, list them.";

/// The width of help lines.
const WIDTH: usize = 79;

/// `arv-docker --help` (`None`) or `arv-docker COMMAND --help`.
pub fn help(prog: &str, command: Option<Command>) -> String {
    match command {
        None => main_help(prog),
        Some(command) => command_help(prog, command),
    }
}

fn main_help(prog: &str) -> String {
    let mut out = format!("Usage:  {prog} [OPTIONS] COMMAND\n\n");
    out.push_str(&wrap(DESCRIPTION, 0, WIDTH));
    out.push_str("\nCommands:\n");
    let widest = COMMANDS.iter().map(|c| c.name.len()).max().unwrap_or(0);
    for c in COMMANDS {
        out.push_str(&format!("  {:<widest$}  {}\n", c.name, c.summary));
    }
    out.push_str("\nOptions:\n");
    out.push_str(&options(None));
    out.push_str(&format!(
        "\nRun '{prog} COMMAND --help' for more information on a command.\n\
         arv-docker is arv-keepdocker under another name: see arv-docker(1).\n"
    ));
    out
}

fn command_help(prog: &str, command: Command) -> String {
    let spec = command.spec();
    let mut out = format!("Usage:  {prog} {} {}\n\n", spec.name, spec.synopsis);
    out.push_str(&format!("{}\n\n", spec.summary));
    out.push_str(&wrap(spec.description, 0, WIDTH));
    out.push_str("\nArguments:\n");
    let widest = spec
        .arguments
        .iter()
        .map(|(m, _)| m.len())
        .max()
        .unwrap_or(0);
    for (metavar, text) in spec.arguments {
        let body = wrap(text, 2 + widest + 2, WIDTH);
        out.push_str(&format!(
            "  {metavar:<widest$}{}",
            &body[2 + metavar.len()..]
        ));
    }
    out.push_str("\nOptions:\n");
    out.push_str(&options(Some(command)));
    out.push_str("\nThe same as:\n");
    for (ours, theirs) in spec.same_as {
        out.push_str(&format!("  {ours}\n"));
        out.push_str(&wrap(theirs, 6, WIDTH));
    }
    out
}

/// The option rows of a command: `-i, --input INPUT   text`.
fn options(command: Option<Command>) -> String {
    let rows: Vec<(String, &str)> = option_strings(command)
        .into_iter()
        .filter(|(text, _, _)| text.starts_with("--"))
        .map(|(text, flag, negated)| (label(&text, flag, negated), row_help(flag, negated)))
        .collect();
    let widest = rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
    let column = 2 + widest + 2;
    let mut out = String::new();
    for (label, text) in rows {
        let body = wrap(text, column, WIDTH);
        out.push_str(&format!("  {label}{}", &body[2 + label.len()..]));
    }
    out
}

/// `-i, --input INPUT`, `    --no-progress`.
pub fn label(long: &str, flag: &DockerFlag, negated: bool) -> String {
    let short = match (negated, flag.short) {
        (false, Some(c)) => format!("-{c}, "),
        _ => "    ".to_string(),
    };
    let value = match (negated, flag.value()) {
        (false, Some(v)) => format!(" {}", v.metavar),
        _ => String::new(),
    };
    format!("{short}{long}{value}")
}

pub fn row_help(flag: &DockerFlag, negated: bool) -> &'static str {
    match (negated, flag.negation()) {
        (true, Some(n)) => n.help,
        _ => flag.help(),
    }
}

/// A usage error: the message, then where the help is.
pub fn usage_error(prog: &str, command: Option<Command>, message: &str) -> String {
    match command {
        None => format!("{prog}: {message}\nSee '{prog} --help'.\n"),
        Some(c) => format!(
            "{prog} {name}: {message}\nSee '{prog} {name} --help'.\n",
            name = c.name()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::docker::FLAGS;

    #[test]
    fn every_help_fits_and_names_every_option() {
        let texts: Vec<(Option<Command>, String)> = std::iter::once(None)
            .chain(COMMANDS.iter().map(|c| Some(c.command)))
            .map(|c| (c, help("arv-docker", c)))
            .collect();
        for (command, text) in &texts {
            for line in text.lines() {
                assert!(line.chars().count() <= WIDTH, "too long: {line:?}");
                assert_eq!(line, line.trim_end(), "trailing space: {line:?}");
            }
            for flag in FLAGS.iter().filter(|f| f.for_command(*command)) {
                assert!(
                    text.contains(&format!("--{}", flag.long)),
                    "{command:?} --{}",
                    flag.long
                );
                let words: String = flag.help().split_whitespace().collect::<Vec<_>>().join(" ");
                let squashed: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
                assert!(squashed.contains(&words), "{command:?}: {words}");
            }
        }
        let main = &texts[0].1;
        for c in COMMANDS {
            assert!(main.contains(&format!("  {}", c.name)) && main.contains(c.summary));
        }
        assert!(help("arv-docker", Some(Command::Load))
            .starts_with("Usage:  arv-docker load [OPTIONS] [-i INPUT] [NAME[:TAG]]\n"));
        assert!(help("arv-docker", Some(Command::Load)).contains("  -i, --input INPUT  "));
    }

    #[test]
    fn usage_errors_say_where_the_help_is() {
        assert_eq!(
            usage_error("arv-docker", Some(Command::Push), "x"),
            "arv-docker push: x\nSee 'arv-docker push --help'.\n"
        );
        assert_eq!(
            usage_error("arv-docker", None, "y"),
            "arv-docker: y\nSee 'arv-docker --help'.\n"
        );
    }
}
