//! The man page `man/arv-docker.1`, generated from `arv-docker`'s table
//! ([`COMMANDS`], [`FLAGS`]) with the roff writer of `arv-keepdocker`'s
//! page (`cli/man.rs`), so that the page, `--help` and the completions say
//! the same. Committed; a test regenerates it and fails on any difference.

use super::doc::{label, row_help, DESCRIPTION};
use super::{option_strings, Command, COMMANDS, PROG};
use crate::cli::man::{escape, lowercase_first, synopsis, Page};

/// The page, relative to the repository root.
pub const PATH: &str = "man/arv-docker.1";

/// The date in the page header: when its content last changed.
const DATE: &str = "2026-12-02";

/// The whole page.
pub fn page() -> String {
    let mut out = Page::default();
    out.raw(".\\\" Generated from the arv-docker table by src/cli/docker/man.rs: do not edit.");
    out.raw(".\\\" Refresh with: ARV_KEEPDOCKER_BLESS=1 cargo test --lib committed_");
    out.raw(&format!(
        ".TH ARV\\-DOCKER 1 {DATE} \"arv\\-keepdocker {}\" \"User Commands\"",
        env!("CARGO_PKG_VERSION").replace('-', "\\-")
    ));
    out.raw(".nh");
    out.raw(".ad l");
    out.section("NAME");
    // The one-line summary, up to the colon of the description.
    let summary = DESCRIPTION.split(':').next().unwrap_or(DESCRIPTION);
    out.raw(&format!(
        "arv\\-docker \\- {}",
        escape(&lowercase_first(summary))
    ));

    out.section("SYNOPSIS");
    for c in COMMANDS {
        out.markup(&format!(
            "\\fB{}\\fR \\fB{}\\fR {}",
            escape(PROG),
            escape(c.name),
            synopsis(c.synopsis)
        ));
        out.raw(".br");
    }
    out.markup(&format!(
        "\\fB{}\\fR [\\fB\\-\\-help\\fR | \\fB\\-\\-version\\fR]",
        escape(PROG)
    ));

    out.section("DESCRIPTION");
    out.text(
        "arv-docker speaks Docker's language for the images stored in Arvados. \
         It is arv-keepdocker started under another name (the package installs it as a \
         link), and every command runs the request the arv-keepdocker command line shown \
         under it would make: the same collections, links and output. \
         An image is stored as a collection holding the archive 'docker save' writes, \
         named by a docker_image_hash link and, when it has a name, a \
         docker_image_repo+tag link; see arv-keepdocker(1).",
    );
    out.para();
    out.text(
        "Options come after the command, as --option=VALUE or --option VALUE, and are \
         not abbreviated. \
         An option shared with arv-keepdocker takes the same values.",
    );

    out.section("COMMANDS");
    for c in COMMANDS {
        command(&mut out, c.command);
    }

    out.section("OPTIONS");
    out.text("Before a command:");
    options(&mut out, None);

    out.section("ENVIRONMENT");
    out.text(
        "As for arv-keepdocker(1): ARVADOS_API_HOST, ARVADOS_API_TOKEN and the other \
         ARVADOS_ variables or settings.conf name the cluster; DOCKER_HOST and the docker \
         command are used only for images in the local Docker daemon.",
    );

    out.section("EXIT STATUS");
    for (status, text) in [
        (
            "0",
            "The image was stored or found and named, or the listing or the help was printed.",
        ),
        (
            "1",
            "The command failed: an ERROR line on standard error names the problem, and \
             nothing half-made is left. \
             arv-docker pull always exits 1 in this version: it has no registry source, \
             and says so.",
        ),
        (
            "2",
            "The command line is wrong: an unknown command or option (with the nearest \
             one, if one is close), a missing or extra argument, or a bad value. \
             One line says which, a second where the help is.",
        ),
    ] {
        out.raw(".TP");
        out.raw(&format!("\\fB{status}\\fR"));
        out.text(text);
    }

    out.section("EXAMPLES");
    let examples: &[(&str, &str)] = &[
        (
            "Store an archive written by docker save, from a pipe:",
            "docker save example/hello:1.0 | arv-docker load",
        ),
        (
            "Store an image of the local Docker daemon in a project:",
            "arv-docker load -i example/hello:1.0 --project-uuid=zzzzz-j7d0g-0123456789abcde",
        ),
        (
            "Name an image already in Arvados, where it is:",
            "arv-docker push --source=zzzzz-4zz18-0123456789abcde example/hello:stable",
        ),
        (
            "Publish the best example/hello:1.0 in Arvados (or Docker's) in a project:",
            "arv-docker push --project-uuid=zzzzz-j7d0g-0123456789abcde example/hello:1.0",
        ),
        (
            "List the tags of one repository:",
            "arv-docker images example/hello",
        ),
    ];
    for (i, (what, line)) in examples.iter().enumerate() {
        if i > 0 {
            out.para();
        }
        out.text(what);
        out.raw(".RS 4");
        out.raw(".nf");
        out.raw(&format!("\\&{}", escape(line)));
        out.raw(".fi");
        out.raw(".RE");
    }

    out.section("SEE ALSO");
    out.raw("\\fBarv\\-keepdocker\\fR(1), \\fBdocker\\fR(1)");
    out.0
}

fn command(out: &mut Page, command: Command) {
    let spec = command.spec();
    out.subsection(&format!("{} {}", spec.name, spec.synopsis));
    out.text(spec.description);
    for (metavar, text) in spec.arguments {
        out.raw(".TP");
        out.raw(&synopsis(metavar));
        out.text(text);
    }
    options(out, Some(command));
    out.para();
    out.text("The same as:");
    for (ours, theirs) in spec.same_as {
        out.raw(".RS 4");
        out.raw(".nf");
        out.raw(&format!("\\&{}", escape(ours)));
        out.raw(".fi");
        out.raw(".RS 4");
        out.text(theirs);
        out.raw(".RE");
        out.raw(".RE");
    }
}

fn options(out: &mut Page, command: Option<Command>) {
    for (long, flag, negated) in option_strings(command) {
        if !long.starts_with("--") {
            continue;
        }
        let text = label(&long, flag, negated);
        // `-i, --input INPUT`: names bold, the value italic.
        let marked: Vec<String> = text
            .trim()
            .split(' ')
            .map(|word| match word.trim_end_matches(',') {
                w if w.starts_with('-') => format!("\\fB{}\\fR{}", escape(w), &word[w.len()..]),
                w => format!("\\fI{}\\fR", escape(w)),
            })
            .collect();
        out.raw(".TP");
        out.raw(&marked.join(" "));
        out.text(row_help(flag, negated));
        if let (Some(spec), false) = (flag.keepdocker(), negated) {
            if !spec.man.is_empty() && flag.own_help.is_empty() {
                out.text(spec.man);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::docker::FLAGS;
    use crate::cli::man::{check_committed, plain_text};

    #[test]
    fn committed_docker_man_page_is_current() {
        check_committed(PATH, &page());
    }

    #[test]
    fn every_command_and_option_in_the_words_of_the_table() {
        let man = plain_text(&page());
        let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        for c in COMMANDS {
            assert!(man.contains(&squash(c.description)), "{}", c.name);
            for (_, text) in c.arguments {
                assert!(man.contains(&squash(text)));
            }
        }
        for flag in FLAGS {
            assert!(man.contains(&format!("--{}", flag.long)));
            assert!(man.contains(&squash(flag.help())), "--{}", flag.long);
        }
        for section in ["NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "EXIT STATUS"] {
            assert!(page().contains(&format!("\n.SH {section}\n")));
        }
        for line in page().lines() {
            assert_eq!(line, line.trim_end(), "trailing space: {line:?}");
            assert!(!line.is_empty());
        }
    }
}
