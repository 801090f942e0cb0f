//! Text generated from the flag table: the usage line of usage errors, the
//! `--help` text, and the version line. (The man page, `man.rs`, and the shell
//! completions, `complete.rs`, are generated from the same table.)

use super::flags::{FlagSpec, Origin, Section, FLAGS, POSITIONALS};

/// The program description, as the legacy tool gave it to argparse.
pub const DESCRIPTION: &str = "Upload or list Docker images in Arvados";

/// The width argparse formats to when `COLUMNS` is unset and the output is
/// not a terminal (80 columns minus 2). Our text does not depend on the
/// terminal.
const ARGPARSE_WIDTH: usize = 78;

/// The width of `--help` lines.
const HELP_WIDTH: usize = 79;

/// One form of the command, for the help's usage lines and the man page's
/// SYNOPSIS.
pub struct Form {
    /// After the program name.
    pub synopsis: &'static str,
    pub description: &'static str,
}

/// The forms of the command, legacy first.
pub const FORMS: &[Form] = &[
    Form {
        synopsis: "[images]",
        description: "List the Docker images stored in Arvados.",
    },
    Form {
        synopsis: "[OPTIONS] IMAGE [TAG]",
        description:
            "Upload IMAGE from the local Docker daemon, unless Arvados already has it, and tag \
                      it REPO:TAG in Arvados. Prints the UUID of the image collection.",
    },
    Form {
        synopsis: "[OPTIONS] --source=FILE|- [REPO[:TAG] | REPO TAG]",
        description:
            "Upload an image archive written by 'docker save', from a file or from standard \
                      input, without Docker. With no REPO, the archive's own repo:tag is used.",
    },
    Form {
        synopsis: "[OPTIONS] --source=docker://REF [REPO[:TAG] | REPO TAG]",
        description: "Pull an image from a registry straight into Arvados, without Docker or a \
                      temporary file, stored as 'docker pull' then 'docker save' would give it. \
                      With no REPO, the name 'docker pull' gives it (none for a digest).",
    },
    Form {
        synopsis: "[OPTIONS] --source=UUID|PDH [REPO[:TAG] | REPO TAG]",
        description:
            "Tag an image collection that is already in Arvados, copying it into the target \
                      project if needed; no image data is moved.",
    },
];

/// The legacy usage block, exactly as argparse rendered it at 80 columns:
/// `usage: arv-keepdocker [-h] [--version] ...` over several lines, ending
/// with a newline. Printed before every usage error, as the legacy tool did.
pub fn usage(prog: &str) -> String {
    let mut opt_parts: Vec<String> = Vec::new();
    let legacy = FLAGS.iter().filter(|f| f.origin == Origin::Legacy);
    let mut rendered_groups = Vec::new();
    for flag in legacy.clone() {
        match flag.group {
            None => opt_parts.push(format!("[{}]", usage_item(flag, false))),
            Some(group) if rendered_groups.contains(&group) => {}
            Some(group) => {
                rendered_groups.push(group);
                let members: Vec<String> = legacy
                    .clone()
                    .filter(|f| f.group == Some(group))
                    .flat_map(|f| {
                        let negated = f.negation.map(|_| usage_item(f, true));
                        std::iter::once(usage_item(f, false)).chain(negated)
                    })
                    .collect();
                opt_parts.push(format!("[{}]", members.join(" | ")));
            }
        }
    }
    let pos_parts: Vec<String> = POSITIONALS
        .iter()
        .map(|p| format!("[{}]", p.name))
        .collect();
    format!(
        "usage: {}\n",
        argparse_usage_lines(prog, &opt_parts, &pos_parts)
    )
}

/// What argparse shows for one action in the usage: its first option
/// string, and the metavar if it takes a value.
fn usage_item(flag: &FlagSpec, negated: bool) -> String {
    match (negated, flag.short, flag.value) {
        (true, _, _) => format!("--{}", flag.negation.expect("negated").long),
        (false, Some(c), _) => format!("-{c}"),
        (false, None, Some(value)) => format!("--{} {}", flag.long, value.metavar),
        (false, None, None) => format!("--{}", flag.long),
    }
}

/// argparse's `HelpFormatter._format_usage` line breaking (Python 3.11).
fn argparse_usage_lines(prog: &str, opt_parts: &[String], pos_parts: &[String]) -> String {
    const PREFIX: &str = "usage: ";
    let all: Vec<&str> = std::iter::once(prog)
        .chain(opt_parts.iter().chain(pos_parts).map(String::as_str))
        .collect();
    let one_line = all.join(" ");
    if PREFIX.len() + one_line.len() <= ARGPARSE_WIDTH {
        return one_line;
    }
    let get_lines = |parts: &[&str], indent: &str, prefix: Option<&str>| -> Vec<String> {
        let mut lines = Vec::new();
        let mut line: Vec<&str> = Vec::new();
        let mut line_len = prefix.map_or(indent.len(), str::len) - 1;
        for &part in parts {
            if line_len + 1 + part.len() > ARGPARSE_WIDTH && !line.is_empty() {
                lines.push(format!("{indent}{}", line.join(" ")));
                line.clear();
                line_len = indent.len() - 1;
            }
            line.push(part);
            line_len += part.len() + 1;
        }
        if !line.is_empty() {
            lines.push(format!("{indent}{}", line.join(" ")));
        }
        if prefix.is_some() {
            lines[0] = lines[0][indent.len()..].to_string();
        }
        lines
    };
    let opts: Vec<&str> = opt_parts.iter().map(String::as_str).collect();
    let pos: Vec<&str> = pos_parts.iter().map(String::as_str).collect();
    let lines = if (PREFIX.len() + prog.len()) as f64 <= 0.75 * ARGPARSE_WIDTH as f64 {
        let indent = " ".repeat(PREFIX.len() + prog.len() + 1);
        let mut first: Vec<&str> = vec![prog];
        if opts.is_empty() {
            first.extend(&pos);
            get_lines(&first, &indent, Some(PREFIX))
        } else {
            first.extend(&opts);
            let mut lines = get_lines(&first, &indent, Some(PREFIX));
            lines.extend(get_lines(&pos, &indent, None));
            lines
        }
    } else {
        let indent = " ".repeat(PREFIX.len());
        let both: Vec<&str> = opts.iter().chain(&pos).copied().collect();
        let mut lines = get_lines(&both, &indent, None);
        if lines.len() > 1 {
            lines = get_lines(&opts, &indent, None);
            lines.extend(get_lines(&pos, &indent, None));
        }
        std::iter::once(prog.to_string()).chain(lines).collect()
    };
    lines.join("\n")
}

/// A usage error as argparse prints it on stderr.
pub fn usage_error(prog: &str, message: &str) -> String {
    format!("{}{prog}: error: {message}\n", usage(prog))
}

/// The `--version` line (legacy: `<argv0> <version>`; we print the
/// program's basename, as argparse's `prog`).
pub fn version(prog: &str) -> String {
    format!("{prog} {}\n", env!("CARGO_PKG_VERSION"))
}

/// The `--help` text.
pub fn help(prog: &str) -> String {
    let mut out = String::new();
    for (i, form) in FORMS.iter().enumerate() {
        let lead = if i == 0 { "usage: " } else { "       " };
        out.push_str(&format!("{lead}{prog} {}\n", form.synopsis));
    }
    out.push_str(&format!("\n{DESCRIPTION}\n"));

    for form in FORMS {
        out.push('\n');
        out.push_str(&format!("  {prog} {}\n", form.synopsis));
        out.push_str(&wrap(form.description, 6, HELP_WIDTH));
    }

    let rows_of = |section: Section| -> Vec<(String, &'static str)> {
        FLAGS
            .iter()
            .filter(|f| f.section == section)
            .flat_map(|f| {
                let negated = f.negation.map(|n| (format!("    --{}", n.long), n.help));
                std::iter::once((help_label(f), f.help)).chain(negated)
            })
            .collect()
    };
    let positional_rows: Vec<(String, &str)> = POSITIONALS
        .iter()
        .map(|p| (p.metavar.to_string(), p.help))
        .collect();
    let mut sections: Vec<(&str, Vec<(String, &str)>)> = vec![("Arguments", positional_rows)];
    sections.extend(Section::ALL.iter().map(|&s| (s.title(), rows_of(s))));
    let widest = sections
        .iter()
        .flat_map(|(_, rows)| rows.iter().map(|(label, _)| label.len()))
        .max()
        .unwrap_or(0);
    let column = 2 + widest + 2;
    for (title, rows) in sections {
        if rows.is_empty() {
            continue;
        }
        out.push_str(&format!("\n{title}:\n"));
        for (label, text) in rows {
            let body = wrap(text, column, HELP_WIDTH);
            out.push_str(&format!(
                "  {label:<width$}{}",
                &body[2 + label.len()..],
                width = label.len()
            ));
        }
    }
    out.push_str(
        "\nLong options may be abbreviated to any unique prefix, and take their value as\n\
         --option VALUE or --option=VALUE.\n",
    );
    out
}

/// `-f, --force`, `    --name=NAME`: short names in a column of their own.
fn help_label(flag: &FlagSpec) -> String {
    let short = flag.short.map_or("    ".to_string(), |c| format!("-{c}, "));
    let value = flag
        .value
        .map_or(String::new(), |v| format!("={}", v.metavar));
    format!("{short}--{}{value}", flag.long)
}

/// Greedy word wrap: every line indented by `indent` spaces and at most
/// `width` columns long (a longer word gets a line of its own).
pub(super) fn wrap(text: &str, indent: usize, width: usize) -> String {
    let pad = " ".repeat(indent);
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && indent + line.len() + 1 + word.len() > width {
            out.push_str(&format!("{pad}{line}\n"));
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&format!("{pad}{line}\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::flags::{option_strings, OptName};

    /// Captured from the legacy tool (`arv-keepdocker --pro x`, stderr, not a
    /// terminal, COLUMNS unset); also spec §10.1.
    const LEGACY_USAGE: &str = "\
usage: arv-keepdocker [-h] [--version] [-f] [--force-image-format]
                      [--pull | --no-pull] [--project-uuid UUID] [--name NAME]
                      [--progress | --no-progress | --batch-progress]
                      [--silent] [--batch] [--resume | --no-resume]
                      [--cache | --no-cache] [--retries RETRIES]
                      [image] [tag]
";

    #[test]
    fn usage_is_the_legacy_one() {
        assert_eq!(usage("arv-keepdocker"), LEGACY_USAGE);
        assert_eq!(
            usage_error("arv-keepdocker", "unrecognized arguments: c"),
            format!("{LEGACY_USAGE}arv-keepdocker: error: unrecognized arguments: c\n")
        );
    }

    /// argparse re-wraps for another program name (checked with Python
    /// 3.11.7 by running the legacy parser with `prog` set so).
    #[test]
    fn usage_follows_the_program_name() {
        assert_eq!(
            usage("kd"),
            "\
usage: kd [-h] [--version] [-f] [--force-image-format] [--pull | --no-pull]
          [--project-uuid UUID] [--name NAME]
          [--progress | --no-progress | --batch-progress] [--silent] [--batch]
          [--resume | --no-resume] [--cache | --no-cache] [--retries RETRIES]
          [image] [tag]
"
        );
        let long = "a-very-long-program-name-for-arvados-docker-image-uploads";
        assert_eq!(
            usage(long),
            format!(
                "\
usage: {long}
       [-h] [--version] [-f] [--force-image-format] [--pull | --no-pull]
       [--project-uuid UUID] [--name NAME]
       [--progress | --no-progress | --batch-progress] [--silent] [--batch]
       [--resume | --no-resume] [--cache | --no-cache] [--retries RETRIES]
       [image] [tag]
"
            )
        );
    }

    #[test]
    fn help_lists_every_option_and_fits_80_columns() {
        let text = help("arv-keepdocker");
        for line in text.lines() {
            assert!(line.chars().count() <= HELP_WIDTH, "too long: {line:?}");
            assert_eq!(line, line.trim_end(), "trailing space: {line:?}");
        }
        for o in option_strings() {
            let shown = match o.name {
                OptName::Short(c) => format!("-{c}, "),
                OptName::Long(_) => format!("{o}"),
            };
            assert!(text.contains(&shown), "{o} missing from --help");
        }
        assert!(text.contains(DESCRIPTION));
        assert!(text.starts_with(
            "usage: arv-keepdocker [images]\n       arv-keepdocker [OPTIONS] IMAGE [TAG]\n"
        ));
    }

    #[test]
    fn wrapping() {
        assert_eq!(wrap("a b c", 2, 5), "  a b\n  c\n");
        assert_eq!(wrap("abcdefgh", 2, 5), "  abcdefgh\n");
    }

    #[test]
    fn version_line() {
        assert_eq!(
            version("arv-keepdocker"),
            format!("arv-keepdocker {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
}
