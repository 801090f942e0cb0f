//! The man page, `man/arv-keepdocker.1`, in roff with the man(7) macros.
//!
//! The SYNOPSIS comes from [`FORMS`], the OPTIONS from [`FLAGS`] and
//! [`POSITIONALS`] (each option's `--help` text, then its man text), so the
//! page and `--help` cannot say different things; the rest is fixed prose
//! written here. The page is committed, and a test regenerates it and fails
//! on any difference (see [`tests`]).
//!
//! The roff written here is deliberately plain (`.TH .SH .SS .PP .TP .IP
//! .RS .RE .nf .fi .B .I .br`, font escapes, `\-`, `\e`, `\&`) so that
//! both groff and mandoc render it without warnings, and sentences start on
//! a new line, as roff wants.

use super::doc::{DESCRIPTION, FORMS};
use super::flags::{FlagSpec, Origin, Section, FLAGS, POSITIONALS};

/// The page, relative to the repository root.
pub const PATH: &str = "man/arv-keepdocker.1";

/// The date in the page header: when its content last changed.
const DATE: &str = "2026-11-29";

/// Longest source line written for running text (roff refills it anyway).
const LINE: usize = 78;

/// The whole page.
pub fn page() -> String {
    let mut out = Page::default();
    out.raw(".\\\" Generated from the flag table by src/cli/man.rs: do not edit.");
    out.raw(".\\\" Refresh with: ARV_KEEPDOCKER_BLESS=1 cargo test --lib committed_");
    out.raw(&format!(
        ".TH ARV\\-KEEPDOCKER 1 {DATE} \"arv\\-keepdocker {}\" \"User Commands\"",
        env!("CARGO_PKG_VERSION").replace('-', "\\-")
    ));
    // Identifiers such as ARVADOS_KEEP_SERVICES must not be hyphenated,
    // and a ragged right margin reads better in a terminal.
    out.raw(".nh");
    out.raw(".ad l");
    out.section("NAME");
    out.raw(&format!(
        "arv\\-keepdocker \\- {}",
        escape(&lowercase_first(DESCRIPTION))
    ));

    out.section("SYNOPSIS");
    for (i, form) in FORMS.iter().enumerate() {
        if i > 0 {
            out.raw(".br");
        }
        out.markup(&format!(
            "\\fBarv\\-keepdocker\\fR {}",
            synopsis(form.synopsis)
        ));
    }

    description(&mut out);
    options(&mut out);
    environment(&mut out);
    files(&mut out);
    exit_status(&mut out);
    examples(&mut out);
    compatibility(&mut out);

    out.section("SEE ALSO");
    out.raw("\\fBarv\\-docker\\fR(1), \\fBdocker\\fR(1), \\fBdocker\\-save\\fR(1)");
    out.para();
    out.text(
        "The Arvados documentation on storing Docker images in Keep: \
         https://doc.arvados.org/user/topics/arv-docker.html",
    );
    out.0
}

fn description(out: &mut Page) {
    out.section("DESCRIPTION");
    out.text(
        "arv-keepdocker stores a Docker image in Arvados as a collection holding one file, \
         sha256:ID.tar, the image as 'docker save' writes it. \
         It then names the image with links, so that Arvados workflows can run it: \
         a docker_image_hash link named by the image id, and a docker_image_repo+tag \
         link named REPO:TAG when the image has a repository. \
         Without an image it lists the images already in Arvados.",
    );
    out.para();
    out.text("Every upload runs in two phases.");
    out.tagged(
        "\\fBPhase 1\\fR: the image collection.",
        "If an image with the same id is already in Arvados, its collection is reused, \
         or copied into the target project without moving any data (unless --force is \
         given). \
         Otherwise the image is streamed into Keep, from 'docker save', from an archive \
         file or standard input, or from a registry, in 64 MiB blocks hashed and written \
         in parallel, with no copy on disk (from a registry, each layer starts a block of \
         its own). \
         The archive is checked while it streams (from the Docker daemon, all but the \
         layers' sha256, which Docker checked as it wrote them), and the collection is \
         created only after the whole archive has been read and found valid. \
         A collection given as --source is used as it is.",
    );
    out.tagged(
        "\\fBPhase 2\\fR: the links.",
        "The docker_image_hash and docker_image_repo+tag links are created in the target \
         project, each only if it is missing, with the image's creation time as their \
         image_timestamp property. \
         Then the UUID of the collection is printed on standard output.",
    );
    out.para();
    out.text("The forms of the command:");
    for form in FORMS {
        out.para();
        out.markup(&synopsis(form.synopsis));
        out.raw(".RS 4");
        out.text(form.description);
        out.raw(".RE");
    }
}

fn options(out: &mut Page) {
    out.section("OPTIONS");
    out.text(
        "Long options may be abbreviated to any unique prefix, and take their value as \
         --option VALUE or --option=VALUE. \
         An abbreviation that meant a legacy option still means it: \
         --s is --silent, not --source.",
    );
    out.subsection("Arguments");
    for p in POSITIONALS {
        out.raw(".TP");
        out.raw(&format!("\\fI{}\\fR", escape(p.metavar)));
        out.text(p.help);
    }
    for section in Section::ALL {
        let flags: Vec<&FlagSpec> = FLAGS.iter().filter(|f| f.section == section).collect();
        if flags.is_empty() {
            continue;
        }
        out.subsection(section.title());
        for flag in flags {
            out.raw(".TP");
            out.raw(&option_label(flag));
            out.text(flag.help);
            if !flag.man.is_empty() {
                out.text(flag.man);
            }
            if let Some(negation) = flag.negation {
                out.raw(".TP");
                out.raw(&format!("\\fB\\-\\-{}\\fR", escape(negation.long)));
                out.text(negation.help);
            }
        }
    }
}

/// `\fB\-f\fR, \fB\-\-force\fR`, `\fB\-\-name\fR=\fINAME\fR`.
fn option_label(flag: &FlagSpec) -> String {
    let mut names: Vec<String> = flag
        .short
        .iter()
        .map(|c| format!("\\fB\\-{c}\\fR"))
        .collect();
    let value = flag
        .value
        .map_or(String::new(), |v| format!("=\\fI{}\\fR", escape(v.metavar)));
    for long in std::iter::once(&flag.long).chain(flag.aliases) {
        names.push(format!("\\fB\\-\\-{}\\fR{value}", escape(long)));
    }
    names.join(", ")
}

fn environment(out: &mut Page) {
    out.section("ENVIRONMENT");
    out.text(
        "Every variable whose name starts with ARVADOS_ overrides the entry of the same \
         name in settings.conf (see FILES).",
    );
    let vars: &[(&str, &str)] = &[
        (
            "ARVADOS_API_HOST",
            "The API server, as host or host:port, without a scheme; the API is always HTTPS.",
        ),
        (
            "ARVADOS_API_TOKEN",
            "The token sent with every API and Keep request. It never appears in messages.",
        ),
        (
            "ARVADOS_API_HOST_INSECURE",
            "1, t, true, y or yes (in any case) turns off TLS certificate and host name \
             checks, for the API server and Keep alike.",
        ),
        (
            "ARVADOS_KEEP_SERVICES, ARVADOS_KEEP_PROXY",
            "Whitespace-separated Keep URLs to use instead of the services the API server \
             lists; they are taken as proxies. ARVADOS_KEEP_SERVICES wins.",
        ),
        (
            "ARVADOS_DEBUG",
            "Any value but empty or 0 turns on DEBUG log lines: one per API request (method, \
             path, status, milliseconds, request id), per Keep block request (method, the \
             locator without its signature, server, status, bytes, milliseconds) and per \
             Docker command or daemon request. They never show a token or a signature. \
             (The Python tool also takes 0 as on.)",
        ),
        (
            "SSL_CERT_FILE",
            "The CA bundle that server certificates are checked against. Without it the first \
             existing of /etc/arvados/ca-certificates.crt, /etc/ssl/certs/ca-certificates.crt \
             and /etc/pki/tls/certs/ca-bundle.crt is used, else the built-in Mozilla roots.",
        ),
        (
            "DOCKER_HOST, DOCKER_CONTEXT, DOCKER_CONFIG",
            "Where the legacy form finds the Docker daemon, as the docker command (docker, or \
             else docker.io, found in PATH) does. When the docker command would use a unix \
             socket (DOCKER_HOST=unix://PATH, else /var/run/docker.sock) and that socket \
             answers, the daemon is asked there directly: image inspect, info and the image \
             archive, with no docker process. For any other daemon (tcp://, ssh://, a named \
             context), when the socket cannot be used, or when no docker command is \
             installed, the docker command is run for these, with the rest of the \
             environment passed on. --pull always runs docker pull. No other form needs \
             Docker. --source=docker:// reads registry credentials where the docker command \
             does: $DOCKER_CONFIG/config.json, else ~/.docker/config.json, and the \
             credential helpers it names.",
        ),
        (
            "ARV_KEEPDOCKER_USE_DOCKER_CLI",
            "Any value but 0 makes the legacy form always run the docker command (image \
             inspect, info, save) rather than ask the daemon's socket: for a docker command \
             that is a wrapper which must see every request.",
        ),
        (
            "CONFIGURATION_DIRECTORY, XDG_CONFIG_HOME, XDG_CONFIG_DIRS",
            "Where settings.conf is looked for (see FILES).",
        ),
        (
            "CACHE_DIRECTORY, XDG_CACHE_HOME, HOME",
            "Where the lock files are kept (see FILES).",
        ),
        ("TZ", "The time zone of the times in log lines."),
    ];
    for (name, text) in vars {
        let names: Vec<String> = name
            .split(", ")
            .map(|n| format!("\\fB{}\\fR", escape(n)))
            .collect();
        out.raw(".TP");
        out.raw(&names.join(", "));
        out.text(text);
    }
}

fn files(out: &mut Page) {
    out.section("FILES");
    out.raw(".TP");
    out.raw("\\fI~/.config/arvados/settings.conf\\fR");
    out.text(
        "The client settings, one KEY=VALUE line each (ARVADOS_API_HOST and \
         ARVADOS_API_TOKEN at least); blank lines and lines starting with # are skipped, and \
         keys and values are taken verbatim. \
         The first file that exists is read, in this order: settings.conf in each directory \
         of $CONFIGURATION_DIRECTORY; $XDG_CONFIG_HOME/arvados/settings.conf (by default the \
         file above); arvados/settings.conf in each directory of $XDG_CONFIG_DIRS (by \
         default /etc/xdg).",
    );
    out.raw(".TP");
    out.raw("\\fI~/.cache/arvados/docker/\\fR");
    out.text(
        "Holds one lock file per image, ID.tar.lock, so that two runs storing the same image \
         (this tool or the Python one) wait for each other and the second reuses what the \
         first stored. \
         The cache root is the first owner-writable directory of $CACHE_DIRECTORY, else \
         $XDG_CACHE_HOME/arvados, else ~/.cache/arvados. \
         The lock files are empty and stay. \
         No copy of the image is written there, nor anywhere else.",
    );
    out.raw(".TP");
    out.raw("\\fI~/.cache/arvados/keepdocker-resume/\\fR");
    out.text(
        "The resume checkpoint of a --source=FILE upload of a regular file (not with \
         --no-cache): the file's identity and, for each block Keep confirmed, its offset, \
         size and signed locator (about 150 bytes per 64 MiB block); never the API token. \
         It is rewritten through a temporary file in the same directory after each \
         confirmed block, and removed once the image collection exists.",
    );
}

fn exit_status(out: &mut Page) {
    out.section("EXIT STATUS");
    let statuses: &[(&str, &str)] = &[
        (
            "0",
            "The image was stored or found and tagged, or the listing was printed, or --help \
             or --version was shown.",
        ),
        (
            "1",
            "The command failed. \
             An ERROR log line on standard error names the problem; where the legacy tool \
             reported the same failure, the last line has its words. \
             Nothing half-made is left: a collection UUID is printed only when its \
             links exist.",
        ),
        (
            "2",
            "The command line is wrong: the usage and the error are printed on standard \
             error, as the legacy tool's argparse printed them.",
        ),
    ];
    for (status, text) in statuses {
        out.raw(".TP");
        out.raw(&format!("\\fB{status}\\fR"));
        out.text(text);
    }
}

fn examples(out: &mut Page) {
    out.section("EXAMPLES");
    let examples: &[(&str, &[&str])] = &[
        ("List the images stored in Arvados:", &["arv-keepdocker"]),
        (
            "Upload an image from the local Docker daemon, pulling it first, into a project:",
            &[
                "arv-keepdocker --pull --project-uuid=zzzzz-j7d0g-0123456789abcde \\",
                "    debian bookworm",
            ],
        ),
        (
            "Upload an archive written by docker save, without Docker:",
            &["arv-keepdocker --source=hello.tar example/hello:1.0"],
        ),
        (
            "Stream an image from another machine's Docker through standard input:",
            &[
                "ssh builder docker save example/hello:1.0 |",
                "    arv-keepdocker --source=- example/hello:1.0",
            ],
        ),
        (
            "Pull an image from Docker Hub into Arvados, without Docker (stored as \
             ubuntu:24.04), and one for ARM compute nodes from another registry:",
            &[
                "arv-keepdocker --source=docker://ubuntu:24.04",
                "arv-keepdocker --source=docker://ghcr.io/example/tool:2.1 \\",
                "    --platform=linux/arm64/v8",
            ],
        ),
        (
            "Give an image already in Arvados another tag, where it is:",
            &[
                "arv-keepdocker --source=zzzzz-4zz18-0123456789abcde \\",
                "    --project-uuid=source example/hello:stable",
            ],
        ),
        (
            "Copy an image, by portable data hash, into another project (no data moves):",
            &[
                "arv-keepdocker --from=collection \\",
                "    --source=0123456789abcdef0123456789abcdef+1234 \\",
                "    --project-uuid=zzzzz-j7d0g-0123456789abcde example/hello:1.0",
            ],
        ),
    ];
    for (i, (what, lines)) in examples.iter().enumerate() {
        if i > 0 {
            out.para();
        }
        out.text(what);
        out.raw(".RS 4");
        out.raw(".nf");
        for line in *lines {
            out.raw(&format!("\\&{}", escape(line)));
        }
        out.raw(".fi");
        out.raw(".RE");
    }
}

fn compatibility(out: &mut Page) {
    out.section("COMPATIBILITY");
    out.text(
        "Every invocation that works with the Python arv-keepdocker gives the same \
         collections, links, standard output and exit status, and accepts the same options \
         and abbreviations. \
         The differences are where the Python tool crashes, misbehaves or keeps a copy on \
         disk:",
    );
    let items: &[&str] = &[
        "No copy of the image is written to ~/.cache/arvados/docker: the image streams \
         from docker save, the archive file or standard input straight into Keep, so a \
         multi-gigabyte image needs no free disk.",
        "Errors the Python tool shows as a traceback (missing settings, a settings.conf line \
         without exactly one =, Docker failures, API errors) are one ERROR line that names \
         the problem and the fix, with exit status 1.",
        "Nothing is created before the whole image has been read and checked, and a printed \
         UUID always names an image with its links; the Python tool may leave a collection \
         without links.",
        "A server certificate that does not verify fails at once instead of being retried \
         for minutes.",
        "--pull pulls the requested IMAGE:TAG; an image named by its full sha256: id or a \
         short hex id is found as Docker finds it; --name values that arv-put rejected work.",
        "The search for an existing image pages through every collection, not only the \
         first 100.",
        "An empty dockerImageFormats list in the cluster configuration disables the format \
         check, as the server documents, instead of refusing every image.",
        "--version prints the program name, not the path it was started by.",
    ];
    for item in items {
        out.raw(".IP \\(bu 2");
        out.text(item);
    }
    // Read from the flag table, so that a new option cannot be left out.
    let new: Vec<String> = FLAGS
        .iter()
        .filter(|f| f.origin == Origin::New)
        .map(|f| format!("--{}", f.long))
        .collect();
    out.raw(".IP \\(bu 2");
    out.text(&format!(
        "New options: {} and --project-uuid=source.",
        new.join(", ")
    ));
    out.para();
    out.text(
        "The README of the source distribution lists every difference, with the reason for \
         each.",
    );
}

/// Font markup of a synopsis: literal words bold, METAVARS italic,
/// brackets, bars and spaces roman.
pub(super) fn synopsis(text: &str) -> String {
    #[derive(PartialEq, Clone, Copy)]
    enum Font {
        Roman,
        Bold,
        Italic,
    }
    let mut out = String::new();
    let mut font = Font::Roman;
    for c in text.chars() {
        let want = match c {
            '[' | ']' | '|' | ' ' => Font::Roman,
            'A'..='Z' => Font::Italic,
            _ => Font::Bold,
        };
        if want != font {
            out.push_str(match want {
                Font::Roman => "\\fR",
                Font::Bold => "\\fB",
                Font::Italic => "\\fI",
            });
            font = want;
        }
        out.push_str(&escape(&c.to_string()));
    }
    if font != Font::Roman {
        out.push_str("\\fR");
    }
    out
}

/// Text safe inside a roff line: backslashes and hyphen-minus escaped.
pub(super) fn escape(text: &str) -> String {
    text.replace('\\', "\\e").replace('-', "\\-")
}

pub(super) fn lowercase_first(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or(String::new(), |c| {
        c.to_lowercase().chain(chars).collect::<String>()
    })
}

/// The page being written.
#[derive(Default)]
pub(super) struct Page(pub(super) String);

impl Page {
    pub(super) fn raw(&mut self, line: &str) {
        self.0.push_str(line);
        self.0.push('\n');
    }

    pub(super) fn section(&mut self, title: &str) {
        self.raw(&format!(".SH {title}"));
    }

    pub(super) fn subsection(&mut self, title: &str) {
        self.raw(&format!(".SS \"{title}\""));
    }

    pub(super) fn para(&mut self) {
        self.raw(".PP");
    }

    /// A `.TP` paragraph with a roff tag line and a text body.
    pub(super) fn tagged(&mut self, tag: &str, body: &str) {
        self.raw(".TP");
        self.raw(tag);
        self.text(body);
    }

    /// Running text: one sentence per source line (roff's rule; it ends
    /// sentences by line ends), long sentences broken between words, every
    /// line made safe from being read as a request.
    pub(super) fn text(&mut self, text: &str) {
        for sentence in sentences(text) {
            let mut line = String::new();
            for word in sentence.split_whitespace() {
                let word = escape(word);
                if !line.is_empty() && line.len() + 1 + word.len() > LINE {
                    self.text_line(&line);
                    line.clear();
                }
                if !line.is_empty() {
                    line.push(' ');
                }
                line.push_str(&word);
            }
            if !line.is_empty() {
                self.text_line(&line);
            }
        }
    }

    /// A line of roff markup (already escaped), broken between words.
    pub(super) fn markup(&mut self, markup: &str) {
        let mut line = String::new();
        for word in markup.split(' ') {
            if !line.is_empty() && line.len() + 1 + word.len() > LINE {
                self.text_line(&line);
                line.clear();
            }
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
        self.text_line(&line);
    }

    fn text_line(&mut self, line: &str) {
        if line.starts_with(['.', '\'']) {
            self.0.push_str("\\&");
        }
        self.raw(line);
    }
}

/// Splits after `.`, `?` or `!` (and any closing `)` or `'`) followed by a
/// space and a capital letter or a dash: what reads as a sentence end.
fn sentences(text: &str) -> Vec<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut out = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for (i, word) in words.iter().enumerate() {
        current.push(word);
        let ends = word
            .trim_end_matches([')', '\''])
            .ends_with(['.', '?', '!']);
        let next_starts = words
            .get(i + 1)
            .and_then(|w| w.chars().next())
            .is_some_and(|c| c.is_uppercase() || c == '-');
        if ends && next_starts {
            out.push(current.join(" "));
            current.clear();
        }
    }
    if !current.is_empty() {
        out.push(current.join(" "));
    }
    out
}

/// Plain text of roff source, for checks that the page says something:
/// requests dropped, font and character escapes removed, whitespace
/// collapsed.
#[cfg(test)]
pub(crate) fn plain_text(roff: &str) -> String {
    let text: Vec<String> = roff
        .lines()
        .filter(|l| !l.starts_with('.') || l.starts_with(".B ") || l.starts_with(".I "))
        .map(|l| {
            l.trim_start_matches(".B ")
                .trim_start_matches(".I ")
                .replace("\\fB", "")
                .replace("\\fI", "")
                .replace("\\fR", "")
                .replace("\\&", "")
                .replace("\\-", "-")
                .replace("\\(bu", "")
                .replace("\\e", "\\")
        })
        .collect();
    text.join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Compares a generated file with the committed one, or rewrites the
/// committed one when `ARV_KEEPDOCKER_BLESS=1`.
#[cfg(test)]
pub(crate) fn check_committed(relative: &str, generated: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    if std::env::var_os("ARV_KEEPDOCKER_BLESS").is_some_and(|v| v == "1") {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        let line = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(committed.lines().count().min(generated.lines().count()))
            + 1;
        panic!(
            "{relative} is not what the flag table generates (first difference at line \
             {line}).\nRefresh it with: ARV_KEEPDOCKER_BLESS=1 cargo test --lib cli:: \
             && git diff {relative}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::doc::help;

    #[test]
    fn committed_man_page_is_current() {
        check_committed(PATH, &page());
    }

    /// Both the man page and `--help` say every option in the words of the
    /// flag table; this fails if either stops doing so.
    #[test]
    fn every_option_in_the_same_words_as_help() {
        let man = plain_text(&page());
        let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let help_text = squash(&help("arv-keepdocker"));
        let mut texts: Vec<&str> = Vec::new();
        for flag in FLAGS {
            texts.push(flag.help);
            texts.extend(flag.negation.map(|n| n.help));
            let label = format!("--{}", flag.long);
            assert!(man.contains(&label), "{label} missing from the man page");
            assert!(help_text.contains(&label), "{label} missing from --help");
            if !flag.man.is_empty() {
                assert!(
                    man.contains(&squash(flag.man)),
                    "man text of --{} missing",
                    flag.long
                );
            }
        }
        texts.extend(POSITIONALS.iter().map(|p| p.help));
        for text in texts {
            let words = squash(text);
            assert!(man.contains(&words), "not in the man page: {words}");
            assert!(help_text.contains(&words), "not in --help: {words}");
        }
        for form in FORMS {
            assert!(man.contains(&squash(form.description)));
            assert!(help_text.contains(&squash(form.description)));
        }
    }

    #[test]
    fn every_required_section() {
        let page = page();
        for section in [
            "NAME",
            "SYNOPSIS",
            "DESCRIPTION",
            "OPTIONS",
            "ENVIRONMENT",
            "FILES",
            "EXIT STATUS",
            "EXAMPLES",
            "COMPATIBILITY",
            "SEE ALSO",
        ] {
            assert!(page.contains(&format!("\n.SH {section}\n")), "no {section}");
        }
    }

    #[test]
    fn no_line_is_read_as_a_request_by_accident() {
        let known = [
            ".\\\"", ".TH ", ".SH ", ".SS ", ".PP", ".TP", ".IP ", ".RS ", ".RE", ".nf", ".fi",
            ".br", ".nh", ".ad l",
        ];
        for line in page().lines() {
            if line.starts_with(['.', '\'']) {
                assert!(
                    known.iter().any(|k| line.starts_with(k)),
                    "unexpected request: {line:?}"
                );
            }
            assert_eq!(line, line.trim_end(), "trailing space: {line:?}");
            assert!(!line.is_empty(), "blank line in roff");
        }
    }

    #[test]
    fn synopsis_fonts() {
        assert_eq!(
            synopsis("[OPTIONS] --source=FILE|-"),
            "[\\fIOPTIONS\\fR] \\fB\\-\\-source=\\fIFILE\\fR|\\fB\\-\\fR"
        );
        assert_eq!(synopsis("[images]"), "[\\fBimages\\fR]");
    }

    #[test]
    fn sentence_splitting() {
        assert_eq!(
            sentences("One (a). Two 'b.' Three e.g. four. --x five"),
            ["One (a).", "Two 'b.'", "Three e.g. four.", "--x five"]
        );
    }
}
