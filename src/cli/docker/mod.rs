//! `arv-docker`: the docker-like commands (`load`, `push`, `pull`,
//! `images`) over the same pipeline as `arv-keepdocker`.
//!
//! # One binary, two names
//!
//! `arv-docker` is the `arv-keepdocker` binary started under another name
//! (`src/main.rs` looks at the basename of argv\[0\]); the Debian package
//! installs it as a symbolic link. A second `[[bin]]` would be a second
//! copy of the whole statically linked program (the pipeline, TLS, the
//! archive checker) for a few hundred lines of parsing, and two binaries can
//! be installed at two different versions; a link cannot.
//!
//! # One table, one pipeline
//!
//! [`FLAGS`] and [`COMMANDS`] are the table: the parser here, the help
//! (`doc.rs`), the man page (`man.rs`) and the completions (`complete.rs`)
//! read it. An option that `arv-keepdocker` has too ([`Act::Keepdocker`])
//! takes its names, value and help from `arv-keepdocker`'s table
//! (`flags::FLAGS`), and is passed on to `arv-keepdocker`'s own parser as
//! `--long=value`, so both commands check its value alike.
//!
//! Every command becomes the [`Request`] `arv-keepdocker` makes, through
//! the same [`Args`]; `run::run` carries it out:
//!
//! ```text
//! load [-i X] [NAME]          --source=X [NAME] (X a file, -, a collection),
//!                             or a daemon image named NAME (Input::Daemon)
//! push --source=C NAME        --source=C --project-uuid=source NAME
//! push NAME                   Source::Named: the best NAME in Arvados, else
//!                             the daemon's NAME
//! pull REF                    --source=docker://REF
//! images [NAME[:TAG]]         images, only the rows of NAME[:TAG]
//! ```
//!
//! Docker's habits, not argparse's: options anywhere after the command,
//! `--opt=value` or `--opt value`, `-ivalue`, no abbreviations; a usage
//! error is one line, `See 'arv-docker load --help'.`, exit status 2, with
//! "did you mean" when a command or option is close to one that exists.

#[cfg(test)]
pub mod complete;
pub mod doc;
#[cfg(test)]
pub mod man;

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::PathBuf;

use super::flags::{FlagSpec, Negation, Value, FLAGS as KEEPDOCKER_FLAGS};
use super::{Args, CliError, Env, Parsed};
use crate::request::{
    parse_target, CollectionId, ImageArg, Input, List, NameFilter, Request, Source, TargetError,
};

/// The name this binary answers to as the docker-like command.
pub const PROG: &str = "arv-docker";

/// The subcommands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    Load,
    Push,
    Pull,
    Images,
}

/// One subcommand, for the parser and the documentation.
#[derive(Clone, Copy, Debug)]
pub struct CommandSpec {
    pub command: Command,
    pub name: &'static str,
    /// After `arv-docker NAME `.
    pub synopsis: &'static str,
    /// One line, for the list of commands.
    pub summary: &'static str,
    /// The paragraph of its `--help` and of the man page.
    pub description: &'static str,
    /// The positionals: (metavar, help).
    pub arguments: &'static [(&'static str, &'static str)],
    /// How many positionals it takes, at least and at most.
    pub positionals: (usize, usize),
    /// The `arv-keepdocker` command lines it is the same as.
    pub same_as: &'static [(&'static str, &'static str)],
}

/// The subcommands, in the order `--help` lists them.
pub const COMMANDS: &[CommandSpec] = &[
    CommandSpec {
        command: Command::Images,
        name: "images",
        synopsis: "[OPTIONS] [NAME[:TAG]]",
        summary: "List the images stored in Arvados",
        description: "List the Docker images stored in Arvados, as 'arv-keepdocker images' does: \
                      the same columns, most preferred image first, or one JSON document with \
                      --format=json. With NAME, only the images of repository NAME; with \
                      NAME:TAG, only those tagged TAG.",
        arguments: &[(
            "NAME[:TAG]",
            "Show only this repository, or this repository and tag.",
        )],
        positionals: (0, 1),
        same_as: &[("arv-docker images", "arv-keepdocker images")],
    },
    CommandSpec {
        command: Command::Load,
        name: "load",
        synopsis: "[OPTIONS] [-i INPUT] [NAME[:TAG]]",
        summary: "Store an image from an archive, a collection or the Docker daemon",
        description: "Store an image in Arvados and tag it. INPUT is an image archive written \
                      by 'docker save' (a file, or - for standard input), an image collection \
                      already in Arvados (UUID or portable data hash), or an image in the \
                      local Docker daemon (name or id). An existing file wins, then a \
                      collection UUID or portable data hash, then a Docker image; --from says \
                      which is meant. Without -i, an archive is read from standard input. An \
                      image already in Arvados is not stored again: its collection is reused, \
                      or copied into the project without moving any data. NAME[:TAG] tags the \
                      image; without it, the archive's own repo:tag, the collection's, or the \
                      Docker image's name is used. Prints the UUID of the image collection.",
        arguments: &[(
            "NAME[:TAG]",
            "The repository and tag to give the image (the tag defaults to 'latest').",
        )],
        positionals: (0, 1),
        same_as: &[
            (
                "arv-docker load -i FILE|-|UUID|PDH [NAME]",
                "arv-keepdocker --source=FILE|-|UUID|PDH [NAME]",
            ),
            ("arv-docker load -i IMAGE", "arv-keepdocker IMAGE"),
        ],
    },
    CommandSpec {
        command: Command::Push,
        name: "push",
        synopsis: "[OPTIONS] [--source=COLLECTION] NAME[:TAG]",
        summary: "Publish an image in a project under a name",
        description: "Give an image the name NAME[:TAG] in a project. The image is the \
                      collection given with --source; else the most preferred image named \
                      NAME[:TAG] in Arvados (the order of 'arv-docker images'); else the image \
                      of that name in the local Docker daemon, stored as 'load' would. With \
                      --source and no --project-uuid the name is given in the project that \
                      holds the collection. Otherwise the project (or your home project) gets \
                      the collection, copied without moving any data, and both links; only \
                      what is missing is created. Prints the UUID of the image collection.",
        arguments: &[("NAME[:TAG]", "The name to publish the image under.")],
        positionals: (1, 1),
        same_as: &[
            (
                "arv-docker push --source=C NAME",
                "arv-keepdocker --source=C --project-uuid=source NAME",
            ),
            (
                "arv-docker push NAME",
                "arv-keepdocker --source=C NAME (C: the best NAME in Arvados), else \
                 arv-keepdocker NAME",
            ),
        ],
    },
    CommandSpec {
        command: Command::Pull,
        name: "pull",
        synopsis: "[OPTIONS] REF",
        summary: "Store an image from a registry",
        description: "Store the image REF ([HOST[:PORT]/]REPO[:TAG][@DIGEST], or docker://REF) \
                      straight from its registry into Keep, without Docker and without a \
                      temporary file, as 'arv-keepdocker --source=docker://REF' does: named \
                      as 'docker pull REF' names it locally, layers uncompressed unless \
                      --compressed-layers.",
        arguments: &[("REF", "The image reference, as 'docker pull' takes it.")],
        positionals: (1, 1),
        same_as: &[(
            "arv-docker pull REF",
            "arv-keepdocker --source=docker://REF",
        )],
    },
];

/// What an option does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    Help,
    Version,
    /// An `arv-keepdocker` option: the same names, value and help (unless
    /// the entry gives its own), passed on to `arv-keepdocker`'s parser.
    Keepdocker,
    /// `load -i/--input`.
    Input,
    /// `load --from`.
    From,
    /// `push --source`.
    Source,
}

/// One option of `arv-docker`.
#[derive(Clone, Copy, Debug)]
pub struct DockerFlag {
    pub long: &'static str,
    pub short: Option<char>,
    pub act: Act,
    /// For the options of our own; an `arv-keepdocker` option's comes from
    /// its table.
    pub own_value: Option<Value>,
    /// The commands that take it; empty: before any command.
    pub commands: &'static [Command],
    /// Empty for an `arv-keepdocker` option: its help is used.
    pub own_help: &'static str,
}

const ALL: &[Command] = &[Command::Images, Command::Load, Command::Push, Command::Pull];
const UPLOADS: &[Command] = &[Command::Load, Command::Push, Command::Pull];
const LISTS_AND_UPLOADS: &[Command] = ALL;

const fn keepdocker(long: &'static str, commands: &'static [Command]) -> DockerFlag {
    DockerFlag {
        long,
        short: None,
        act: Act::Keepdocker,
        own_value: None,
        commands,
        own_help: "",
    }
}

/// Every option of `arv-docker`, in the order the help lists them.
pub const FLAGS: &[DockerFlag] = &[
    DockerFlag {
        long: "help",
        short: Some('h'),
        act: Act::Help,
        own_value: None,
        commands: &[],
        own_help: "Show this help and exit.",
    },
    DockerFlag {
        long: "version",
        short: None,
        act: Act::Version,
        own_value: None,
        commands: &[],
        own_help: "Print the program name and version and exit.",
    },
    DockerFlag {
        long: "help",
        short: Some('h'),
        act: Act::Help,
        own_value: None,
        commands: ALL,
        own_help: "Show the help of this command and exit.",
    },
    DockerFlag {
        long: "input",
        short: Some('i'),
        act: Act::Input,
        own_value: Some(Value {
            metavar: "INPUT",
            choices: &[],
        }),
        commands: &[Command::Load],
        own_help: "Read the image from INPUT: an archive file, - for standard input (the \
                   default), a collection UUID or portable data hash, or a Docker image name \
                   or id.",
    },
    DockerFlag {
        long: "from",
        short: None,
        act: Act::From,
        own_value: Some(Value {
            metavar: "KIND",
            choices: &["file", "collection", "daemon"],
        }),
        commands: &[Command::Load],
        own_help: "Say what INPUT is: 'file', 'collection' or 'daemon'.",
    },
    DockerFlag {
        long: "source",
        short: None,
        act: Act::Source,
        own_value: Some(Value {
            metavar: "COLLECTION",
            choices: &[],
        }),
        commands: &[Command::Push],
        own_help: "Publish the image in this collection (UUID or portable data hash) instead \
                   of looking NAME up.",
    },
    keepdocker("platform", &[Command::Pull]),
    keepdocker("insecure-registry", &[Command::Pull]),
    keepdocker("compressed-layers", &[Command::Pull]),
    DockerFlag {
        own_help: "Put the collection and its links in the project UUID instead of your home \
                   project (for push --source: instead of the project of the collection).",
        ..keepdocker("project-uuid", UPLOADS)
    },
    keepdocker("name", UPLOADS),
    DockerFlag {
        short: Some('f'),
        ..keepdocker("force", UPLOADS)
    },
    keepdocker("force-image-format", UPLOADS),
    keepdocker("dry-run", UPLOADS),
    keepdocker("reuse-layers", &[Command::Load, Command::Push]),
    keepdocker("format", LISTS_AND_UPLOADS),
    keepdocker("replication", UPLOADS),
    keepdocker("storage-classes", UPLOADS),
    keepdocker("progress", UPLOADS),
    keepdocker("batch-progress", UPLOADS),
    keepdocker("silent", UPLOADS),
    keepdocker("resume", UPLOADS),
    keepdocker("cache", UPLOADS),
    keepdocker("retries", LISTS_AND_UPLOADS),
];

impl DockerFlag {
    /// The `arv-keepdocker` option this one is.
    pub fn keepdocker(&self) -> Option<&'static FlagSpec> {
        (self.act == Act::Keepdocker).then(|| {
            KEEPDOCKER_FLAGS
                .iter()
                .find(|f| f.long == self.long)
                .unwrap_or_else(|| panic!("no --{} in arv-keepdocker's FLAGS", self.long))
        })
    }

    pub fn value(&self) -> Option<Value> {
        self.keepdocker().map_or(self.own_value, |f| f.value)
    }

    pub fn negation(&self) -> Option<Negation> {
        self.keepdocker().and_then(|f| f.negation)
    }

    pub fn help(&self) -> &'static str {
        match self.keepdocker() {
            Some(f) if self.own_help.is_empty() => f.help,
            _ => self.own_help,
        }
    }

    /// Whether `command` takes it (`None`: before the command).
    pub fn for_command(&self, command: Option<Command>) -> bool {
        match command {
            None => self.commands.is_empty(),
            Some(c) => self.commands.contains(&c),
        }
    }
}

impl Command {
    pub fn spec(self) -> &'static CommandSpec {
        COMMANDS
            .iter()
            .find(|c| c.command == self)
            .expect("every command is in COMMANDS")
    }

    pub fn name(self) -> &'static str {
        self.spec().name
    }
}

/// The option strings `command` takes (`None`: before the command), long
/// ones first in table order, then the short ones.
pub fn option_strings(command: Option<Command>) -> Vec<(String, &'static DockerFlag, bool)> {
    let flags = FLAGS.iter().filter(|f| f.for_command(command));
    let mut out: Vec<(String, &'static DockerFlag, bool)> = Vec::new();
    for flag in flags.clone() {
        out.push((format!("--{}", flag.long), flag, false));
        if let Some(n) = flag.negation() {
            out.push((format!("--{}", n.long), flag, true));
        }
    }
    for flag in flags {
        if let Some(c) = flag.short {
            out.push((format!("-{c}"), flag, false));
        }
    }
    out
}

// ---------------------------------------------------------------------------
// Parsing

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DockerParsed {
    /// `--help`: of `arv-docker` (`None`) or of a command.
    Help(Option<Command>),
    /// `--version`.
    Version,
    Run(Invocation),
}

/// `--from=file|collection|daemon`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum From {
    File,
    Collection,
    Daemon,
}

/// A command with its options as given, checked but not interpreted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    pub command: Command,
    /// The `arv-keepdocker` options, spelled `--long` or `--long=value`.
    pub keepdocker: Vec<OsString>,
    pub input: Option<OsString>,
    pub from: Option<From>,
    pub source: Option<String>,
    pub positionals: Vec<OsString>,
}

/// Why a command line is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DockerError {
    /// A usage error: one line, then where the help is; exit status 2.
    Usage {
        command: Option<Command>,
        message: String,
    },
}

impl DockerError {
    pub fn exit_code(&self) -> u8 {
        match self {
            DockerError::Usage { .. } => 2,
        }
    }
}

impl fmt::Display for DockerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DockerError::Usage { message, .. } => f.write_str(message),
        }
    }
}

fn usage(command: Option<Command>, message: impl Into<String>) -> DockerError {
    DockerError::Usage {
        command,
        message: message.into(),
    }
}

/// Stage 1: the arguments after the program name.
pub fn parse<I>(args: I) -> Result<DockerParsed, DockerError>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    use lexopt::Arg;
    let mut parser = lexopt::Parser::from_args(args);
    let mut command: Option<Command> = None;
    let mut inv: Option<Invocation> = None;
    let lex = |command, e: lexopt::Error| usage(command, e.to_string());
    while let Some(arg) = parser.next().map_err(|e| lex(command, e))? {
        let (text, short) = match arg {
            Arg::Value(value) => {
                match &mut inv {
                    Some(inv) => inv.positionals.push(value),
                    None => {
                        let c = find_command(&value)?;
                        command = Some(c);
                        inv = Some(Invocation::new(c));
                    }
                }
                continue;
            }
            Arg::Long(name) => (format!("--{name}"), false),
            Arg::Short(c) => (format!("-{c}"), true),
        };
        let Some((_, flag, negated)) = option_strings(command)
            .into_iter()
            .find(|(s, _, _)| *s == text)
        else {
            return Err(unknown_flag(command, &text));
        };
        let value = match flag.value() {
            Some(_) => Some(parser.value().map_err(|_| {
                usage(
                    command,
                    format!("flag needs an argument: {}", shown(flag, short)),
                )
            })?),
            None => {
                // `--force=x`: Docker's "does not take a value".
                if !short {
                    if let Some(v) = parser.optional_value() {
                        return Err(usage(
                            command,
                            format!(
                                "flag --{} does not take a value (got {})",
                                flag.long,
                                v.to_string_lossy()
                            ),
                        ));
                    }
                }
                None
            }
        };
        match flag.act {
            Act::Help => return Ok(DockerParsed::Help(command)),
            Act::Version => return Ok(DockerParsed::Version),
            _ => {}
        }
        let inv = inv
            .as_mut()
            .expect("only --help and --version come before a command");
        inv.take(flag, negated, value)?;
    }
    match inv {
        None => Err(usage(None, "no command given (images, load, push, pull)")),
        Some(inv) => {
            let (least, most) = inv.command.spec().positionals;
            let n = inv.positionals.len();
            if n < least || n > most {
                return Err(usage(Some(inv.command), arity(inv.command, n)));
            }
            Ok(DockerParsed::Run(inv))
        }
    }
}

/// `-i` or `--input`, as typed.
fn shown(flag: &DockerFlag, short: bool) -> String {
    match (short, flag.short) {
        (true, Some(c)) => format!("-{c}"),
        _ => format!("--{}", flag.long),
    }
}

fn arity(command: Command, given: usize) -> String {
    let spec = command.spec();
    let what = spec
        .arguments
        .iter()
        .map(|(m, _)| *m)
        .collect::<Vec<_>>()
        .join(" ");
    match spec.positionals {
        (1, 1) if given == 0 => format!("\"{}\" needs {what}", spec.name),
        (1, 1) => format!("\"{}\" takes one argument, {what}; got {given}", spec.name),
        _ => format!(
            "\"{}\" takes at most one argument, {what}; got {given}",
            spec.name
        ),
    }
}

fn find_command(value: &OsStr) -> Result<Command, DockerError> {
    let text = value.to_string_lossy();
    if let Some(spec) = COMMANDS.iter().find(|c| c.name == text) {
        return Ok(spec.command);
    }
    let names: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
    let hint = match closest(&text, &names) {
        Some(name) => format!(" (did you mean '{name}'?)"),
        None => String::new(),
    };
    Err(usage(
        None,
        format!("'{text}' is not an arv-docker command{hint}"),
    ))
}

fn unknown_flag(command: Option<Command>, text: &str) -> DockerError {
    let name = text.split('=').next().unwrap_or(text);
    let mine: Vec<String> = option_strings(command).into_iter().map(|o| o.0).collect();
    let mine: Vec<&str> = mine.iter().map(String::as_str).collect();
    let others: Vec<&str> = COMMANDS
        .iter()
        .filter(|c| {
            Some(c.command) != command
                && option_strings(Some(c.command))
                    .iter()
                    .any(|(s, _, _)| s == name)
        })
        .map(|c| c.name)
        .collect();
    let hint = match (closest(name, &mine), others.is_empty()) {
        (_, false) => format!(" (an option of arv-docker {})", others.join(", ")),
        (Some(close), true) => format!(" (did you mean {close}?)"),
        (None, true) => String::new(),
    };
    usage(command, format!("unknown flag: {name}{hint}"))
}

/// The candidate `typed` is a typo or a shortening of: at most one edit
/// in three characters (dashes aside), or the start of just one candidate
/// (`--proj`: options are never abbreviated, but the hint helps).
fn closest<'a>(typed: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let bare = |s: &str| s.trim_start_matches('-').to_string();
    let typed_bare = bare(typed);
    if typed_bare.chars().count() < 2 {
        return None; // `-x`: any letter is one edit from another
    }
    let allowed = (typed_bare.chars().count() / 3).clamp(1, 2);
    let near = candidates
        .iter()
        .map(|c| (distance(&typed_bare, &bare(c)), *c))
        .filter(|(d, _)| *d <= allowed)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c);
    let starts: Vec<&str> = candidates
        .iter()
        .copied()
        .filter(|c| typed_bare.len() >= 3 && c.starts_with(typed))
        .collect();
    match (near, starts.as_slice()) {
        (Some(c), _) => Some(c),
        (None, [one]) => Some(*one),
        _ => None,
    }
}

/// Optimal string alignment distance (Levenshtein with transpositions).
fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            d[i][j] = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d[i][j] = d[i][j].min(d[i - 2][j - 2] + 1);
            }
        }
    }
    d[a.len()][b.len()]
}

impl Invocation {
    fn new(command: Command) -> Invocation {
        Invocation {
            command,
            keepdocker: Vec::new(),
            input: None,
            from: None,
            source: None,
            positionals: Vec::new(),
        }
    }

    fn take(
        &mut self,
        flag: &'static DockerFlag,
        negated: bool,
        value: Option<OsString>,
    ) -> Result<(), DockerError> {
        let command = Some(self.command);
        let text = |value: &OsString| {
            value.to_str().map(str::to_string).ok_or_else(|| {
                usage(
                    command,
                    format!("--{}: not valid UTF-8: {value:?}", flag.long),
                )
            })
        };
        match flag.act {
            Act::Help | Act::Version => unreachable!("handled by the parser"),
            Act::Keepdocker => {
                if flag.long == "project-uuid" && value.as_deref() == Some(OsStr::new("source")) {
                    return Err(usage(
                        command,
                        "--project-uuid=source is arv-keepdocker's; 'arv-docker push \
                         --source=COLLECTION NAME' names an image in the project that holds it",
                    ));
                }
                let long = match (negated, flag.negation()) {
                    (true, Some(n)) => n.long,
                    _ => flag.long,
                };
                let mut spelled = OsString::from(format!("--{long}"));
                if let Some(value) = value {
                    spelled.push("=");
                    spelled.push(value);
                }
                self.keepdocker.push(spelled);
            }
            Act::Input => self.input = value,
            Act::From => {
                let value = text(value.as_ref().expect("takes a value"))?;
                self.from = Some(match value.as_str() {
                    "file" => From::File,
                    "collection" => From::Collection,
                    "daemon" => From::Daemon,
                    other => {
                        return Err(usage(
                            command,
                            format!(
                                "invalid value '{other}' for --from: choose file, collection \
                                 or daemon"
                            ),
                        ))
                    }
                });
            }
            Act::Source => self.source = Some(text(value.as_ref().expect("takes a value"))?),
        }
        Ok(())
    }
}

/// What stage 2 needs to know about the environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DockerEnv {
    pub keepdocker: Env,
    pub stdin_is_tty: bool,
}

impl DockerEnv {
    pub fn detect() -> DockerEnv {
        use std::io::IsTerminal;
        DockerEnv {
            keepdocker: Env::detect(),
            stdin_is_tty: std::io::stdin().is_terminal(),
        }
    }
}

impl Invocation {
    /// Stage 2: the request, as `arv-keepdocker` would make it.
    pub fn into_request(self, env: &DockerEnv) -> Result<Request, DockerError> {
        let command = Some(self.command);
        if self.command == Command::Pull {
            return self.pull(env);
        }
        let args = keepdocker_args(command, &self.keepdocker)?;
        let mut positionals = self.positionals.into_iter().map(|p| {
            p.into_string()
                .map_err(|raw| usage(command, format!("not valid UTF-8: {raw:?}")))
        });
        let name = positionals.next().transpose()?;
        let target = |name: &str| {
            parse_target(name, None).map_err(|err| match err {
                TargetError::ImageId(image) => usage(
                    command,
                    format!("name the image NAME[:TAG], not by an image id: {image}"),
                ),
                TargetError::TagGivenTwice(e) => usage(command, e.to_string()),
            })
        };
        let source = match self.command {
            Command::Images => {
                return Ok(Request::List(List {
                    retries: args.retries,
                    format: args.format,
                    filter: name.as_deref().map(|n| filter(command, n)).transpose()?,
                }));
            }
            Command::Load => {
                let input = load_input(self.input, self.from, env.stdin_is_tty)?;
                let repo_tag = name.as_deref().map(target).transpose()?;
                Source::Given { input, repo_tag }
            }
            Command::Push => {
                let name = target(&name.expect("push takes one NAME"))?;
                match self.source {
                    Some(source) => {
                        let id = CollectionId::parse(&source).ok_or_else(|| {
                            usage(
                                command,
                                format!(
                                    "--source takes a collection UUID or portable data hash, \
                                     not '{source}' (to store an archive: arv-docker load -i \
                                     FILE NAME)"
                                ),
                            )
                        })?;
                        let args = Args {
                            project_uuid: args.project_uuid.or(Some("source".into())),
                            ..args
                        };
                        let source = Source::Given {
                            input: Input::Collection(id),
                            repo_tag: Some(name),
                        };
                        return Ok(Request::Upload(args.into_upload(source, &env.keepdocker)));
                    }
                    None => Source::Named(name),
                }
            }
            Command::Pull => unreachable!("handled above"),
        };
        Ok(Request::Upload(args.into_upload(source, &env.keepdocker)))
    }

    /// `pull REF`: `arv-keepdocker --source=docker://REF` with the same
    /// options.
    fn pull(self, env: &DockerEnv) -> Result<Request, DockerError> {
        let command = Some(Command::Pull);
        let reference = self.positionals[0].to_string_lossy().into_owned();
        let reference = reference
            .strip_prefix("docker://")
            .unwrap_or(&reference)
            .to_string();
        if reference.is_empty() || reference.contains(char::is_whitespace) {
            return Err(usage(
                command,
                format!("'{reference}' is not an image reference"),
            ));
        }
        // The options are checked with the --source they go with.
        let argv = pull_argv(&reference, self.keepdocker);
        keepdocker_args(command, &argv)?
            .into_request(&env.keepdocker)
            .map_err(|e| usage(command, e.to_string()))
    }
}

/// The `arv-keepdocker` command line `pull` is.
fn pull_argv(reference: &str, options: Vec<OsString>) -> Vec<OsString> {
    let mut argv = options;
    argv.push(format!("--source=docker://{reference}").into());
    argv
}

/// The `arv-keepdocker` options, through its own parser (which checks
/// their values and combinations alike for both commands).
fn keepdocker_args(command: Option<Command>, options: &[OsString]) -> Result<Args, DockerError> {
    match super::parse(options.iter().cloned()) {
        Ok(Parsed::Run(args)) => Ok(args),
        Ok(other) => unreachable!("no --help or --version is passed on: {other:?}"),
        Err(CliError::Usage(message)) => Err(usage(command, message)),
        Err(other) => Err(usage(command, other.to_string())),
    }
}

/// `load`'s INPUT: the `--source` rules, and a Docker image.
fn load_input(
    input: Option<OsString>,
    from: Option<From>,
    stdin_is_tty: bool,
) -> Result<Input, DockerError> {
    let command = Some(Command::Load);
    let Some(input) = input else {
        if from.is_some() {
            return Err(usage(
                command,
                "--from says what -i/--input is: give -i too",
            ));
        }
        if stdin_is_tty {
            return Err(usage(
                command,
                "no -i/--input and standard input is a terminal: give -i INPUT, or pipe an \
                 archive in (docker save IMAGE | arv-docker load)",
            ));
        }
        return Ok(Input::Stdin);
    };
    let text = input.to_str();
    Ok(match (from, input == "-") {
        (None | Some(From::File), true) => Input::Stdin,
        (Some(From::File), false) => Input::File(PathBuf::from(input)),
        (Some(From::Collection), _) => {
            let id = text.and_then(CollectionId::parse).ok_or_else(|| {
                usage(
                    command,
                    format!(
                        "-i {}: not a collection UUID or portable data hash",
                        input.to_string_lossy()
                    ),
                )
            })?;
            Input::Collection(id)
        }
        (Some(From::Daemon), _) => {
            let text = text.filter(|t| !t.is_empty() && *t != "-").ok_or_else(|| {
                usage(
                    command,
                    format!(
                        "-i {}: not a Docker image name or id",
                        input.to_string_lossy()
                    ),
                )
            })?;
            Input::Daemon(ImageArg::parse(text, None).expect("no tag argument, no conflict"))
        }
        (None, false) => Input::AutoOrDaemon(input),
    })
}

/// `images NAME[:TAG]`: split as the library's searches split a name
/// (a `:` before the last `/` is a registry port).
fn filter(command: Option<Command>, name: &str) -> Result<NameFilter, DockerError> {
    let (repo, tag) = crate::images::split_name(name).map_err(|_| {
        usage(
            command,
            format!("'{name}' is not a repository name or NAME:TAG"),
        )
    })?;
    Ok(NameFilter {
        repo: repo.to_string(),
        tag: tag.map(str::to_string),
    })
}

#[cfg(test)]
mod tests;
