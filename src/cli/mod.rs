//! The command line: argv -> [`Args`] -> [`Request`].
//!
//! Two stages, as ripgrep does with its low and high level arguments:
//!
//! 1. [`parse`] is pure. It reads the arguments with the legacy tool's
//!    argparse rules and the options of [`flags::FLAGS`], and returns
//!    [`Parsed::Help`], [`Parsed::Version`], or the options as given
//!    ([`Args`]), or a usage error.
//! 2. [`Args::into_request`] interprets them: the positional rules of spec
//!    §10.2, the `--source`/`--from` rules, and the defaults that depend on
//!    the environment ([`Env`]: is stderr a terminal?).
//!
//! # Argparse habits kept
//!
//! Users' scripts were written against Python argparse (3.9 to 3.13 all
//! behave alike here), so this is a port of the part of argparse's
//! algorithm the legacy parser exercised, not a getopt-style parser:
//!
//! * every argument is first classified as an option, a value or `--`;
//!   an ambiguous abbreviation anywhere before `--` is reported before
//!   anything else, even before `--help`;
//! * long options may be abbreviated to a unique prefix, and take their
//!   value as `--opt value` or `--opt=value`;
//! * a value may not look like an option: `--name -x` is "expected one
//!   argument", while `--name -1`, `--name '-x y'` and `--name=-x` are fine;
//!   `-1`, `-.5` and `'-a b'` are positionals, not options;
//! * `-fh` is `-f -h`; `-fx` is "ignored explicit argument 'x'";
//! * options are acted on from left to right: `--help` and `--version`
//!   win over a later error but not over an earlier one; unknown options and
//!   extra positionals are only reported at the end;
//! * the two optional positionals are both filled by the first run of
//!   positionals, so `img --force tag` is "unrecognized arguments: tag"
//!   (argparse's `nargs='?'` behaviour, kept for exact compatibility);
//! * repeated options: the last value wins; mutually exclusive pairs are
//!   "argument --no-pull: not allowed with argument --pull".
//!
//! lexopt supplies the argument vector ([`lexopt::Parser`]'s raw arguments,
//! which keep non-UTF-8 paths intact); its own option splitting is
//! getopt-style and differs from argparse in ways scripts can see (`-1`,
//! `--name -x`, abbreviations), so the splitting is done here.

#[cfg(test)]
pub mod complete;
pub mod doc;
pub mod docker;
pub mod flags;
#[cfg(test)]
mod fuzz;
#[cfg(test)]
pub mod man;

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::PathBuf;

use crate::reference::Reference;
use crate::request::{
    parse_target, py_repr, CollectionId, ImageArg, Input, List, OutputFormat, PlatformArg,
    Progress, ProgressChoice, Project, PullArgs, Request, Source, Storage, TagGivenTwice,
    TargetError, Upload, DOCKER_SCHEME,
};
use flags::{Id, OptName, OptionString, Origin};

/// The legacy default of `--retries`.
pub const DEFAULT_RETRIES: u64 = 10;

/// Legacy `--retries` accepted `range(0, sys.maxsize)`.
const MAX_RETRIES: u64 = i64::MAX as u64 - 1;

/// What the command line asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// `-h`/`--help`: print [`doc::help`] on stdout, exit 0.
    Help,
    /// `--version`: print `<prog> <version>` on stdout, exit 0.
    Version,
    /// Anything else.
    Run(Args),
}

/// The options as given, checked but not yet interpreted: the legacy
/// argparse namespace plus the new options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Args {
    pub force: bool,
    pub force_image_format: bool,
    pub pull: bool,
    pub project_uuid: Option<String>,
    pub name: Option<String>,
    pub progress: Option<ProgressChoice>,
    pub silent: bool,
    pub batch: bool,
    pub resume: bool,
    pub cache: bool,
    pub retries: u64,
    pub source: Option<OsString>,
    pub from: Option<SourceKind>,
    pub dry_run: bool,
    /// `--reuse-layers`.
    pub reuse_layers: bool,
    pub format: OutputFormat,
    pub replication: Option<u32>,
    pub storage_classes: Option<Vec<String>>,
    /// `--platform`, `--insecure-registry` (each one given),
    /// `--compressed-layers`.
    pub pull_from: Box<PullArgs>,
    /// The first positional.
    pub image: Option<String>,
    /// The second positional.
    pub tag: Option<String>,
}

impl Default for Args {
    fn default() -> Args {
        Args {
            force: false,
            force_image_format: false,
            pull: false,
            project_uuid: None,
            name: None,
            progress: None,
            silent: false,
            batch: false,
            resume: true,
            cache: true,
            retries: DEFAULT_RETRIES,
            source: None,
            from: None,
            dry_run: false,
            reuse_layers: false,
            format: OutputFormat::Text,
            replication: None,
            storage_classes: None,
            pull_from: Box::default(),
            image: None,
            tag: None,
        }
    }
}

/// `--from=file|collection`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    File,
    Collection,
}

/// What the second stage needs to know about the environment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Env {
    pub stderr_is_tty: bool,
}

impl Env {
    /// The real environment.
    pub fn detect() -> Env {
        use std::io::IsTerminal;
        Env {
            stderr_is_tty: std::io::stderr().is_terminal(),
        }
    }
}

/// A command line the tool cannot act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CliError {
    /// Printed after the usage line as `<prog>: error: <message>`; exit
    /// status 2, as argparse does.
    Usage(String),
    /// The legacy post-parse error (an ERROR log line), exit status 1.
    TagGivenTwice(TagGivenTwice),
}

impl CliError {
    /// The process exit status for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => 2,
            CliError::TagGivenTwice(_) => 1,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Usage(message) => f.write_str(message),
            CliError::TagGivenTwice(err) => err.fmt(f),
        }
    }
}

fn usage(message: impl Into<String>) -> CliError {
    CliError::Usage(message.into())
}

/// The program name for messages: the basename of argv\[0\], as argparse's
/// `prog`.
pub fn prog_name(argv0: Option<&OsStr>) -> String {
    argv0
        .and_then(|a| std::path::Path::new(a).file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "arv-keepdocker".to_string())
}

/// Stage 1: parse the arguments (without the program name).
pub fn parse<I>(args: I) -> Result<Parsed, CliError>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    let mut lexer = lexopt::Parser::from_args(args);
    let raw: Vec<OsString> = match lexer.try_raw_args() {
        Some(raw) => raw.collect(),
        None => unreachable!("nothing is pending before the first argument"),
    };
    let tokens = scan(raw)?;
    let mut parser = Consumer::new(&tokens);
    if let Some(special) = parser.run()? {
        return Ok(special);
    }
    if !parser.extras.is_empty() {
        return Err(usage(format!(
            "unrecognized arguments: {}",
            parser.extras.join(" ")
        )));
    }
    parser.check_requires()?;
    check_new_forms(&parser.args)?;
    Ok(Parsed::Run(parser.args))
}

// ---------------------------------------------------------------------------
// The scan: argparse's `_parse_optional` for each argument before `--`.

/// One classified argument; the letter is argparse's pattern letter.
#[derive(Clone, Debug)]
enum Token {
    /// `A`: a positional or an option's value.
    Arg(OsString),
    /// `-`: the first `--`.
    EndOfOptions,
    /// `O`: a known option string, maybe with a value after `=` (or, for a
    /// short option, glued on: `-fh`).
    Opt {
        opt: OptionString,
        explicit: Option<OsString>,
    },
    /// `O` with no action: an unknown option, reported at the end.
    Unknown(OsString),
}

impl Token {
    fn letter(&self) -> u8 {
        match self {
            Token::Arg(_) => b'A',
            Token::EndOfOptions => b'-',
            Token::Opt { .. } | Token::Unknown(_) => b'O',
        }
    }

    /// The argument as typed, for "unrecognized arguments".
    fn raw(&self) -> String {
        match self {
            Token::Arg(raw) | Token::Unknown(raw) => raw.to_string_lossy().into_owned(),
            Token::EndOfOptions => "--".to_string(),
            Token::Opt { .. } => unreachable!("a known option is never an extra"),
        }
    }
}

fn scan(raw: Vec<OsString>) -> Result<Vec<Token>, CliError> {
    let mut tokens = Vec::with_capacity(raw.len());
    let mut rest = raw.into_iter();
    while let Some(arg) = rest.next() {
        if arg == "--" {
            tokens.push(Token::EndOfOptions);
            tokens.extend(rest.by_ref().map(Token::Arg));
            break;
        }
        tokens.push(classify(arg)?);
    }
    Ok(tokens)
}

/// argparse's `_parse_optional`: is this argument an option, and which?
fn classify(arg: OsString) -> Result<Token, CliError> {
    let text = arg.to_string_lossy().into_owned();
    if !text.starts_with('-') {
        return Ok(Token::Arg(arg));
    }
    if let Some(opt) = exact(&text) {
        return Ok(Token::Opt {
            opt,
            explicit: None,
        });
    }
    if text == "-" {
        return Ok(Token::Arg(arg));
    }
    if let Some((name, value)) = split_at_equals(&arg) {
        if let Some(opt) = exact(&name) {
            return Ok(Token::Opt {
                opt,
                explicit: Some(value),
            });
        }
    }
    if let Some((opt, explicit)) = abbreviation(&arg, &text)? {
        return Ok(Token::Opt { opt, explicit });
    }
    // No option looks like a negative number, so those are positionals; so
    // is anything with a space that is not an option.
    if looks_like_negative_number(&text) || text.contains(' ') {
        return Ok(Token::Arg(arg));
    }
    Ok(Token::Unknown(arg))
}

/// The option string spelled exactly so.
fn exact(text: &str) -> Option<OptionString> {
    flags::option_strings().find(|o| o.to_string() == text)
}

/// `--name=value` split at the first `=`, keeping the value's bytes.
fn split_at_equals(arg: &OsStr) -> Option<(String, OsString)> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::{OsStrExt, OsStringExt};
        let bytes = arg.as_bytes();
        let at = bytes.iter().position(|&b| b == b'=')?;
        let name = String::from_utf8_lossy(&bytes[..at]).into_owned();
        Some((name, OsString::from_vec(bytes[at + 1..].to_vec())))
    }
    #[cfg(not(unix))]
    {
        let text = arg.to_string_lossy();
        let (name, value) = text.split_once('=')?;
        Some((name.to_string(), OsString::from(value)))
    }
}

/// argparse's `_get_option_tuples`, with one rule added for the new options:
/// a long prefix is resolved among the legacy options first, and among the
/// new ones only if no legacy option matches. So every abbreviation a script
/// could use keeps its meaning (`--s` is `--silent`, not `--source`), and
/// an ambiguity lists the same candidates as before, in argparse's order.
fn abbreviation(
    arg: &OsStr,
    text: &str,
) -> Result<Option<(OptionString, Option<OsString>)>, CliError> {
    if text.starts_with("--") {
        let (prefix, explicit) = match split_at_equals(arg) {
            Some((name, value)) => (name, Some(value)),
            None => (text.to_string(), None),
        };
        for origin in [Origin::Legacy, Origin::New] {
            let matches: Vec<OptionString> = flags::option_strings()
                .filter(|o| {
                    o.flag.origin == origin && o.is_long() && o.to_string().starts_with(&prefix)
                })
                .collect();
            match matches[..] {
                [] => continue,
                [opt] => return Ok(Some((opt, explicit))),
                _ => {
                    let names: Vec<String> = matches.iter().map(|o| o.to_string()).collect();
                    return Err(usage(format!(
                        "ambiguous option: {text} could match {}",
                        names.join(", ")
                    )));
                }
            }
        }
        return Ok(None);
    }
    // A single dash: a short option with something glued on (`-fh`, `-fx`).
    let mut chars = text.chars();
    chars.next();
    let Some(letter) = chars.next() else {
        return Ok(None);
    };
    let glued = chars.as_str();
    Ok(flags::option_strings()
        .find(|o| o.name == OptName::Short(letter))
        .map(|opt| (opt, Some(OsString::from(glued)))))
}

/// argparse's `^-\d+$|^-\d*\.\d+$` (where `$` may precede a final newline
/// and `\d` is any decimal digit; non-ASCII numerals are all taken as
/// digits here).
fn looks_like_negative_number(text: &str) -> bool {
    let body = text.strip_suffix('\n').unwrap_or(text);
    let Some(number) = body.strip_prefix('-') else {
        return false;
    };
    let digit = |c: char| c.is_ascii_digit() || (!c.is_ascii() && c.is_numeric());
    let all_digits = |s: &str| !s.is_empty() && s.chars().all(digit);
    match number.split_once('.') {
        None => all_digits(number),
        Some((int, frac)) => (int.is_empty() || all_digits(int)) && all_digits(frac),
    }
}

// ---------------------------------------------------------------------------
// The consumption: argparse's `_parse_known_args` loop.

struct Consumer<'t> {
    tokens: &'t [Token],
    /// Both positionals are filled at once, by the first run of positionals.
    positionals_taken: bool,
    /// Options acted on so far, for the mutual exclusions.
    seen: Vec<OptionString>,
    extras: Vec<String>,
    args: Args,
}

impl<'t> Consumer<'t> {
    fn new(tokens: &'t [Token]) -> Consumer<'t> {
        Consumer {
            tokens,
            positionals_taken: false,
            seen: Vec::new(),
            extras: Vec::new(),
            args: Args::default(),
        }
    }

    fn letter(&self, i: usize) -> Option<u8> {
        self.tokens.get(i).map(Token::letter)
    }

    /// Returns `Some` when `--help` or `--version` was acted on.
    fn run(&mut self) -> Result<Option<Parsed>, CliError> {
        let mut i = 0;
        while let Some(next_option) = (i..self.tokens.len()).find(|&j| self.letter(j) == Some(b'O'))
        {
            if i != next_option {
                let end = self.consume_positionals(i);
                if end > i {
                    i = end;
                    continue;
                }
            }
            if i != next_option {
                let leftover = self.tokens[i..next_option].iter().map(Token::raw);
                self.extras.extend(leftover);
                i = next_option;
            }
            match self.consume_option(i)? {
                Step::Next(end) => i = end,
                Step::Stop(special) => return Ok(Some(special)),
            }
        }
        let end = self.consume_positionals(i);
        let leftover = self.tokens[end..].iter().map(Token::raw);
        self.extras.extend(leftover);
        Ok(None)
    }

    /// argparse matches `(-*A?-*)(-*A?-*)` here: each positional takes at
    /// most one argument, with the `--` next to it, and both are used up by
    /// the first call. Returns the index after what was taken.
    fn consume_positionals(&mut self, start: usize) -> usize {
        if self.positionals_taken {
            return start;
        }
        self.positionals_taken = true;
        let mut i = start;
        let mut values = [None, None];
        for value in &mut values {
            let from = i;
            while self.letter(i) == Some(b'-') {
                i += 1;
            }
            if self.letter(i) == Some(b'A') {
                i += 1;
            }
            while self.letter(i) == Some(b'-') {
                i += 1;
            }
            // `_get_values` drops the first "--" of what was matched.
            let mut strings: Vec<OsString> = self.tokens[from..i]
                .iter()
                .map(|t| match t {
                    Token::Arg(raw) => raw.clone(),
                    _ => OsString::from("--"),
                })
                .collect();
            if let Some(dashes) = strings.iter().position(|s| s == "--") {
                strings.remove(dashes);
            }
            *value = strings.into_iter().next();
        }
        let [image, tag] = values;
        // Positionals name Docker images and tags, which are ASCII: a
        // non-UTF-8 one is kept lossily and will simply not be found.
        let text = |v: OsString| v.to_string_lossy().into_owned();
        self.args.image = image.map(text);
        self.args.tag = tag.map(text);
        i
    }

    /// argparse's `consume_optional`.
    fn consume_option(&mut self, i: usize) -> Result<Step, CliError> {
        let (mut opt, mut explicit) = match &self.tokens[i] {
            Token::Unknown(raw) => {
                self.extras.push(raw.to_string_lossy().into_owned());
                return Ok(Step::Next(i + 1));
            }
            Token::Opt { opt, explicit } => (*opt, explicit.clone()),
            _ => unreachable!("consume_option is called on options only"),
        };
        let mut actions: Vec<(OptionString, Option<OsString>)> = Vec::new();
        let end = loop {
            let takes_value = opt.flag.value.is_some() && !opt.negated;
            match explicit {
                Some(value) if takes_value => {
                    actions.push((opt, Some(value)));
                    break i + 1;
                }
                // `-fh`: the glued letters are more short switches.
                Some(glued) if !opt.is_long() && !glued.is_empty() => {
                    actions.push((opt, None));
                    let glued_text = glued.to_string_lossy();
                    let mut chars = glued_text.chars();
                    let letter = chars.next().expect("not empty");
                    let Some(next) = exact(&format!("-{letter}")) else {
                        return Err(ignored_explicit(&opt, &glued));
                    };
                    opt = next;
                    explicit = Some(chars.as_str())
                        .filter(|s| !s.is_empty())
                        .map(OsString::from);
                }
                Some(value) => return Err(ignored_explicit(&opt, &value)),
                None if takes_value => match &self.tokens.get(i + 1) {
                    Some(Token::Arg(value)) => {
                        actions.push((opt, Some(value.clone())));
                        break i + 2;
                    }
                    _ => {
                        return Err(usage(format!(
                            "argument {}: expected one argument",
                            opt.action_name()
                        )))
                    }
                },
                None => {
                    actions.push((opt, None));
                    break i + 1;
                }
            }
        };
        for (opt, value) in actions {
            if let Some(special) = self.take(opt, value)? {
                return Ok(Step::Stop(special));
            }
        }
        Ok(Step::Next(end))
    }

    /// argparse's `take_action`: check the exclusions, then convert the
    /// value and act. (argparse converts first; no legacy option both takes
    /// a value and belongs to a group, so the order cannot be seen.)
    fn take(
        &mut self,
        opt: OptionString,
        value: Option<OsString>,
    ) -> Result<Option<Parsed>, CliError> {
        if let Some(earlier) = self.seen.iter().find(|seen| excludes(&opt, seen)) {
            return Err(usage(format!(
                "argument {}: not allowed with argument {}",
                opt.action_name(),
                earlier.action_name()
            )));
        }
        self.seen.push(opt);
        let value = || value.clone().expect("an option that takes a value has one");
        let text = || {
            value().into_string().map_err(|raw| {
                usage(format!(
                    "argument {}: not valid UTF-8: {raw:?}",
                    opt.action_name()
                ))
            })
        };
        let on = !opt.negated;
        let a = &mut self.args;
        match opt.flag.id {
            Id::Help => return Ok(Some(Parsed::Help)),
            Id::Version => return Ok(Some(Parsed::Version)),
            Id::Force => a.force = true,
            Id::ForceImageFormat => a.force_image_format = true,
            Id::Pull => a.pull = on,
            Id::ProjectUuid => a.project_uuid = Some(text()?),
            Id::Name => a.name = Some(text()?),
            Id::Progress if on => a.progress = Some(ProgressChoice::Human),
            Id::Progress => a.progress = Some(ProgressChoice::Off),
            Id::BatchProgress => a.progress = Some(ProgressChoice::Machine),
            Id::Silent => a.silent = true,
            Id::Batch => a.batch = true,
            Id::Resume => a.resume = on,
            Id::Cache => a.cache = on,
            Id::Retries => a.retries = parse_retries(&value().to_string_lossy())?,
            Id::Source if value().is_empty() => {
                return Err(usage(
                    "argument --source: expected a file, '-', or a collection UUID or portable data hash",
                ))
            }
            Id::Source => a.source = Some(value()),
            Id::From => {
                a.from = Some(match text()?.as_str() {
                    "file" => SourceKind::File,
                    "collection" => SourceKind::Collection,
                    other => {
                        return Err(usage(format!(
                            "argument --from: invalid choice: {} (choose from 'file', 'collection')",
                            py_repr(other)
                        )))
                    }
                })
            }
            Id::DryRun => a.dry_run = true,
            Id::ReuseLayers => a.reuse_layers = true,
            Id::Format => {
                a.format = match text()?.as_str() {
                    "text" => OutputFormat::Text,
                    "json" => OutputFormat::Json,
                    other => {
                        return Err(usage(format!(
                            "argument --format: invalid choice: {} (choose from 'text', 'json')",
                            py_repr(other)
                        )))
                    }
                }
            }
            Id::Replication => a.replication = Some(parse_replication(&text()?)?),
            Id::StorageClasses => a.storage_classes = Some(parse_storage_classes(&text()?)?),
            Id::Platform => {
                let given = text()?;
                a.pull_from.platform = Some(PlatformArg::parse(&given).ok_or_else(|| {
                    usage(format!(
                        "argument --platform: invalid value: {} (OS/ARCH or OS/ARCH/VARIANT, \
                         such as 'linux/amd64' or 'linux/arm64/v8')",
                        py_repr(&given)
                    ))
                })?)
            }
            Id::InsecureRegistry => {
                let host = text()?;
                if host.is_empty() || host.contains(['/', ' ']) {
                    return Err(usage(format!(
                        "argument --insecure-registry: invalid value: {} (a registry \
                         HOST or HOST:PORT, without a scheme or a path)",
                        py_repr(&host)
                    )));
                }
                a.pull_from.insecure_registries.push(host)
            }
            Id::CompressedLayers => a.pull_from.compressed_layers = true,
        }
        Ok(None)
    }

    /// An option given without the option it `requires` (table-driven).
    fn check_requires(&self) -> Result<(), CliError> {
        for opt in &self.seen {
            if let Some(required) = opt.flag.requires {
                if !self
                    .seen
                    .iter()
                    .any(|o| o.flag.long == required && !o.negated)
                {
                    return Err(usage(format!(
                        "argument {}: only valid with --{required}",
                        opt.action_name()
                    )));
                }
            }
        }
        Ok(())
    }
}

enum Step {
    Next(usize),
    Stop(Parsed),
}

fn ignored_explicit(opt: &OptionString, value: &OsStr) -> CliError {
    usage(format!(
        "argument {}: ignored explicit argument {}",
        opt.action_name(),
        py_repr(&value.to_string_lossy())
    ))
}

/// Whether `opt` may not follow `earlier`: two different options of one
/// legacy group, or a pair named in an `excludes` list.
fn excludes(opt: &OptionString, earlier: &OptionString) -> bool {
    let same_action = std::ptr::eq(opt.flag, earlier.flag) && opt.negated == earlier.negated;
    if same_action {
        return false;
    }
    let same_group = opt.flag.group.is_some() && opt.flag.group == earlier.flag.group;
    let named = |a: &OptionString, b: &OptionString| {
        !b.negated && a.flag.excludes.contains(&b.flag.long) && !a.negated
    };
    same_group || named(opt, earlier) || named(earlier, opt)
}

/// Python's `int()` of a `str` in base 10, then the legacy range check
/// `0 <= n < sys.maxsize`. Non-ASCII digits, which Python also accepts,
/// are refused.
fn parse_retries(text: &str) -> Result<u64, CliError> {
    let invalid = || {
        usage(format!(
            "argument --retries: invalid int value: {}",
            py_repr(text)
        ))
    };
    let trimmed = text.trim_matches(char::is_whitespace);
    let (negative, digits) = match trimmed.as_bytes().first() {
        Some(b'-') => (true, &trimmed[1..]),
        Some(b'+') => (false, &trimmed[1..]),
        _ => (false, trimmed),
    };
    let well_formed = !digits.is_empty()
        && !digits.starts_with('_')
        && !digits.ends_with('_')
        && !digits.contains("__")
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    if !well_formed {
        return Err(invalid());
    }
    let value = digits
        .bytes()
        .filter(u8::is_ascii_digit)
        .try_fold(0u64, |n, d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        });
    match value {
        Some(0) => Ok(0),
        Some(n) if !negative && n <= MAX_RETRIES => Ok(n),
        _ if negative => Err(usage(format!(
            "argument --retries: invalid int value: {} (must be 0 or more)",
            py_repr(text)
        ))),
        _ => Err(usage(format!(
            "argument --retries: invalid int value: {} (must be at most {MAX_RETRIES})",
            py_repr(text)
        ))),
    }
}

/// `--replication N`: a whole number of copies, at least 1.
fn parse_replication(text: &str) -> Result<u32, CliError> {
    match text.trim().parse::<u32>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(usage(format!(
            "argument --replication: invalid value: {} (a number of copies, 1 or more)",
            py_repr(text)
        ))),
    }
}

/// `--storage-classes A,B`: names separated by commas (spaces around them
/// ignored), sorted and without duplicates, as Keep is asked for them.
fn parse_storage_classes(text: &str) -> Result<Vec<String>, CliError> {
    let mut classes: Vec<String> = text.split(',').map(|c| c.trim().to_string()).collect();
    let bad = classes
        .iter()
        .any(|c| c.is_empty() || c.contains(|ch: char| ch.is_whitespace() || ch == '='));
    if bad {
        return Err(usage(format!(
            "argument --storage-classes: invalid value: {} (class names separated by commas, \
             such as 'default,archive')",
            py_repr(text)
        )));
    }
    classes.sort();
    classes.dedup();
    Ok(classes)
}

/// The checks that involve the new options, made after the legacy parser's
/// own, so a legacy command line fails exactly as it did.
fn check_new_forms(args: &Args) -> Result<(), CliError> {
    let stdin = args.source.as_deref() == Some(OsStr::new("-"));
    if args.from == Some(SourceKind::Collection) {
        let source = args.source.as_deref().unwrap_or_default().to_string_lossy();
        if stdin || CollectionId::parse(&source).is_none() {
            return Err(usage(format!(
                "argument --source: not a collection UUID or portable data hash: {}",
                py_repr(&source)
            )));
        }
    }
    let registry = args.from != Some(SourceKind::File)
        && args
            .source
            .as_deref()
            .is_some_and(|s| s.to_string_lossy().starts_with(DOCKER_SCHEME));
    if !registry {
        let pull_from = &args.pull_from;
        let given = [
            ("--platform", pull_from.platform.is_some()),
            (
                "--insecure-registry",
                !pull_from.insecure_registries.is_empty(),
            ),
            ("--compressed-layers", pull_from.compressed_layers),
        ];
        if let Some((name, _)) = given.iter().find(|(_, set)| *set) {
            return Err(usage(format!(
                "argument {name}: only valid with --source=docker://REFERENCE"
            )));
        }
    }
    if registry && args.project_uuid.as_deref() == Some("source") {
        return Err(usage(
            "argument --project-uuid: 'source' means the project of a source collection, \
             but --source=docker://... is an image in a registry; give a project UUID, or \
             leave --project-uuid out for your home project",
        ));
    }
    if args.project_uuid.as_deref() == Some("source") {
        let could_be_collection =
            args.source.is_some() && !stdin && args.from != Some(SourceKind::File);
        if !could_be_collection {
            return Err(usage(
                "argument --project-uuid: 'source' means the project of the source collection, \
                 and needs --source=UUID or --source=PDH",
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Stage 2.

impl Args {
    /// Stage 2: the request these options make, with the defaults that
    /// depend on the environment resolved.
    pub fn into_request(mut self, env: &Env) -> Result<Request, CliError> {
        let source = match (self.source.take(), self.image.take()) {
            (None, None) => {
                return Ok(Request::List(List {
                    retries: self.retries,
                    format: self.format,
                    filter: None,
                }))
            }
            (None, Some(image)) if image == "images" => {
                return Ok(Request::List(List {
                    retries: self.retries,
                    format: self.format,
                    filter: None,
                }))
            }
            (None, Some(image)) => Source::Daemon(
                ImageArg::parse(&image, self.tag.as_deref()).map_err(CliError::TagGivenTwice)?,
            ),
            (Some(source), image) => {
                let registry = source
                    .to_str()
                    .and_then(|s| s.strip_prefix(DOCKER_SCHEME))
                    .filter(|_| self.from != Some(SourceKind::File));
                let input = if source == "-" {
                    Input::Stdin
                } else if let Some(reference) = registry {
                    Input::Registry(Box::new(
                        Reference::parse(reference)
                            .map_err(|e| usage(format!("argument --source: {e}")))?,
                    ))
                } else {
                    match self.from {
                        Some(SourceKind::File) => Input::File(PathBuf::from(source)),
                        Some(SourceKind::Collection) => {
                            let id = source.to_str().and_then(CollectionId::parse);
                            Input::Collection(id.expect("checked by check_new_forms"))
                        }
                        None => Input::Auto(source),
                    }
                };
                let repo_tag = match image {
                    None => None,
                    Some(image) => Some(parse_target(&image, self.tag.as_deref()).map_err(|err| match err {
                        TargetError::TagGivenTwice(err) => CliError::TagGivenTwice(err),
                        TargetError::ImageId(image) => usage(format!(
                            "argument image: with --source, name the image with REPO[:TAG], not an image id: {}",
                            py_repr(&image)
                        )),
                    })?),
                };
                Source::Given { input, repo_tag }
            }
        };
        Ok(Request::Upload(self.into_upload(source, env)))
    }

    /// The upload of `source` with these options (what `arv-docker`'s
    /// subcommands make, with the sources they name).
    pub fn into_upload(self, source: Source, env: &Env) -> Upload {
        let project = match self.project_uuid.as_deref() {
            None | Some("") => Project::Home,
            Some("source") => Project::OfSource,
            Some(uuid) => Project::Uuid(uuid.to_string()),
        };
        Upload {
            source,
            collection_name: self.name,
            project,
            force: self.force,
            force_image_format: self.force_image_format,
            pull: self.pull,
            progress: Progress::resolve(self.progress, self.silent, env.stderr_is_tty),
            silent: self.silent,
            batch: self.batch,
            resume: self.resume && self.cache,
            cache: self.cache,
            retries: self.retries,
            dry_run: self.dry_run,
            reuse_layers: self.reuse_layers,
            format: self.format,
            storage: Storage {
                replication: self.replication,
                classes: self.storage_classes,
            },
            pull_from: self.pull_from,
        }
    }
}

#[cfg(test)]
mod tests;
