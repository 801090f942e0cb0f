//! Shell completion scripts for bash and zsh, generated from the flag table.
//!
//! Both complete every option string, the values of options with a known
//! kind of value (files for `--source`, `file collection` for `--from`,
//! `source` for `--project-uuid`), and, for the first argument of the legacy
//! form, `images` and the images of the local Docker daemon. The option
//! values are recognised under every abbreviation the parser accepts
//! (`--sou x`, `--proj=...`), computed here with the parser's own
//! abbreviation rule; zsh is also told which options exclude each other,
//! with the parser's own exclusion rule.
//!
//! The scripts are committed under `man/completions/`; a test regenerates
//! them and fails on any difference.

use std::ffi::OsStr;

use super::flags::{option_strings, Id, OptName, OptionString, FLAGS};
use super::{abbreviation, excludes};

/// The bash script, relative to the repository root.
pub const BASH_PATH: &str = "man/completions/arv-keepdocker.bash";
/// The zsh script, relative to the repository root.
pub const ZSH_PATH: &str = "man/completions/_arv-keepdocker";

const REFRESH: &str = "ARV_KEEPDOCKER_BLESS=1 cargo test --lib committed_";

/// The command that lists the Docker daemon's images as `repo:tag`, bounded
/// in time so that an unreachable daemon never hangs the shell.
const DOCKER_IMAGES: &str =
    "timeout 3 docker image ls --filter dangling=false --format '{{.Repository}}:{{.Tag}}'";

/// What the value of an option is completed with.
enum ValueKind {
    Files,
    Words(&'static [&'static str]),
    Nothing,
}

fn value_kind(id: Id) -> ValueKind {
    match id {
        // A file, or `-` for standard input (a collection cannot be listed
        // without asking the cluster, which a completion must not do).
        Id::Source => ValueKind::Files,
        Id::ProjectUuid => ValueKind::Words(&["source"]),
        // Docker's usual platforms (any OS/ARCH[/VARIANT] is accepted).
        Id::Platform => ValueKind::Words(&[
            "linux/amd64",
            "linux/arm64/v8",
            "linux/arm/v7",
            "linux/ppc64le",
            "linux/s390x",
        ]),
        _ => match FLAGS.iter().find(|f| f.id == id).and_then(|f| f.value) {
            Some(value) if !value.choices.is_empty() => ValueKind::Words(value.choices),
            _ => ValueKind::Nothing,
        },
    }
}

/// Option strings that take a value (never a negation).
fn value_options() -> Vec<OptionString> {
    option_strings()
        .filter(|o| o.flag.value.is_some() && !o.negated)
        .collect()
}

/// Every spelling the parser reads as `opt`: the option string itself and
/// each abbreviation that resolves to it.
fn spellings(opt: &OptionString) -> Vec<String> {
    let full = opt.to_string();
    let mut out = vec![full.clone()];
    if let OptName::Long(_) = opt.name {
        for len in 3..full.len() {
            let prefix = &full[..len];
            if let Ok(Some((found, None))) = abbreviation(OsStr::new(prefix), prefix) {
                if found == *opt {
                    out.push(prefix.to_string());
                }
            }
        }
    }
    out
}

/// The bash completion script.
pub fn bash() -> String {
    let all_options: Vec<String> = option_strings().map(|o| o.to_string()).collect();
    let value_opts = value_options();
    let mut value_cases = String::new();
    for opt in &value_opts {
        let action = match value_kind(opt.flag.id) {
            ValueKind::Files => "_arv_keepdocker_files".to_string(),
            ValueKind::Words(words) => format!("_arv_keepdocker_words '{}'", words.join(" ")),
            ValueKind::Nothing => ":".to_string(),
        };
        value_cases.push_str(&format!(
            "        {})\n            {action}\n            ;;\n",
            spellings(opt).join("|")
        ));
    }
    let all_value_spellings: Vec<String> = value_opts.iter().flat_map(spellings).collect();
    let source_spellings: Vec<String> = value_opts
        .iter()
        .filter(|o| o.flag.id == Id::Source)
        .flat_map(spellings)
        .collect();
    format!(
        r#"# bash completion for arv-keepdocker
# Generated from the flag table by src/cli/complete.rs: do not edit.
# Refresh with: {REFRESH}

# Files, and - for standard input.
_arv_keepdocker_files()
{{
    compopt -o filenames 2>/dev/null
    local IFS=$'\n'
    COMPREPLY=($(compgen -f -- "$cur"))
    [[ -z $cur || $cur == - ]] && COMPREPLY+=(-)
}}

_arv_keepdocker_words()
{{
    local IFS=$' \t\n'
    COMPREPLY=($(compgen -W "$1" -- "$cur"))
}}

_arv_keepdocker()
{{
    local cur=${{COMP_WORDS[COMP_CWORD]}} prev= opt= prefix= word i
    local positionals=0 source= ended=
    COMPREPLY=()
    (( COMP_CWORD > 0 )) && prev=${{COMP_WORDS[COMP_CWORD-1]}}
    # After `--` every argument is positional.
    for (( i = 1; i < COMP_CWORD; i++ )); do
        [[ ${{COMP_WORDS[i]}} == -- ]] && ended=1
    done

    # The value of an option: --opt VALUE, --opt=VALUE as one word, or as
    # the three words bash makes of it when '=' is in COMP_WORDBREAKS.
    if [[ -n $ended ]]; then
        opt=
    elif [[ $cur == --*=* ]]; then
        opt=${{cur%%=*}} prefix=${{cur%%=*}}= cur=${{cur#*=}}
    elif [[ $cur == = && $prev == --* ]]; then
        opt=$prev cur=
    elif [[ $prev == = ]] && (( COMP_CWORD > 1 )); then
        opt=${{COMP_WORDS[COMP_CWORD-2]}}
    else
        opt=$prev
    fi
    case $opt in
{value_cases}        *)
            opt= cur=${{COMP_WORDS[COMP_CWORD]}}
            ;;
    esac
    if [[ -n $opt ]]; then
        if [[ -n $prefix ]]; then
            COMPREPLY=("${{COMPREPLY[@]/#/$prefix}}")
        fi
        return 0
    fi

    if [[ $cur == -* && -z $ended ]]; then
        _arv_keepdocker_words '{all_options}'
        return 0
    fi

    # The arguments before this one, skipping option values.
    for (( i = 1; i < COMP_CWORD; i++ )); do
        word=${{COMP_WORDS[i]}}
        if [[ $word == -- ]]; then
            ended=after
            continue
        elif [[ $ended == after ]]; then
            (( positionals++ ))
            continue
        fi
        case $word in
            {source_spellings}|{source_abbrev_eq})
                source=1
                ;;
        esac
        case $word in
            {value_spellings})
                (( i++ ))
                [[ ${{COMP_WORDS[i]}} == = ]] && (( i++ ))
                ;;
            -*)
                ;;
            *)
                (( positionals++ ))
                ;;
        esac
    done
    # The legacy form's IMAGE: `images` (the listing) or a local image.
    if (( positionals == 0 )) && [[ -z $source ]]; then
        local IFS=$'\n' images=images
        if type -P docker >/dev/null 2>&1; then
            images+=$'\n'$({DOCKER_IMAGES} 2>/dev/null)
        fi
        COMPREPLY=($(compgen -W "$images" -- "$cur"))
    fi
    return 0
}}

complete -F _arv_keepdocker arv-keepdocker
"#,
        all_options = all_options.join(" "),
        source_spellings = source_spellings.join("|"),
        source_abbrev_eq = source_spellings
            .iter()
            .map(|s| format!("{s}=*"))
            .collect::<Vec<_>>()
            .join("|"),
        value_spellings = all_value_spellings.join("|"),
    )
}

/// Text inside a single-quoted zsh word: `'` closed, escaped and reopened.
fn zsh_quote(text: &str) -> String {
    text.replace('\'', "'\\''")
}

/// An option description for `_arguments`: the first sentence of the help,
/// with the characters `_arguments` treats specially escaped.
fn zsh_description(help: &str) -> String {
    let words: Vec<&str> = help.split_whitespace().collect();
    let mut first = Vec::new();
    for word in words {
        first.push(word);
        if word.ends_with('.') {
            break;
        }
    }
    let sentence = first.join(" ");
    let sentence = sentence.trim_end_matches('.');
    let mut out = String::new();
    for c in sentence.chars() {
        if matches!(c, '[' | ']' | ':' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    zsh_quote(&out)
}

/// The zsh completion function (an autoloaded `_arv-keepdocker`).
pub fn zsh() -> String {
    let all: Vec<OptionString> = option_strings().collect();
    let mut specs = Vec::new();
    for opt in &all {
        let help = if opt.negated {
            opt.flag.negation.expect("negated").help
        } else {
            opt.flag.help
        };
        let exclusions: Vec<String> = if matches!(opt.flag.id, Id::Help | Id::Version) {
            // They stop the parser: nothing after them matters.
            vec!["- *".to_string()]
        } else {
            // Another spelling of the same action (`-f` for `--force`) adds
            // nothing, so it is not offered again either.
            let same_action = |other: &OptionString| {
                std::ptr::eq(other.flag, opt.flag)
                    && other.negated == opt.negated
                    && other.name != opt.name
            };
            all.iter()
                .filter(|other| excludes(opt, other) || same_action(other))
                .map(|other| other.to_string())
                .collect()
        };
        let exclusions = if exclusions.is_empty() {
            String::new()
        } else {
            format!("({})", exclusions.join(" "))
        };
        let (name, value) = match opt.flag.value {
            Some(value) if !opt.negated => {
                let action = match value_kind(opt.flag.id) {
                    ValueKind::Files => "_files".to_string(),
                    ValueKind::Words(words) => format!("({})", words.join(" ")),
                    ValueKind::Nothing => " ".to_string(),
                };
                let eq = if opt.is_long() { "=" } else { "" };
                (
                    format!("{opt}{eq}"),
                    format!(":{}:{action}", value.metavar.to_lowercase()),
                )
            }
            _ => (opt.to_string(), String::new()),
        };
        specs.push(format!(
            "    '{exclusions}{name}[{}]{value}'",
            zsh_description(help)
        ));
    }
    format!(
        r#"#compdef arv-keepdocker
# zsh completion for arv-keepdocker
# Generated from the flag table by src/cli/complete.rs: do not edit.
# Refresh with: {REFRESH}

local curcontext=$curcontext state state_descr line expl ret=1
typeset -A opt_args

_arguments -s -S -C \
{specs} \
    '1: :->image' \
    '2: :->tag' && ret=0

case $state in
    image)
        if (( ${{+opt_args[--source]}} )); then
            _message 'REPO[:TAG] to tag the image with' && ret=0
        else
            local -a images
            images=(images)
            if (( $+commands[docker] )); then
                images+=(${{(f)"$({DOCKER_IMAGES} 2>/dev/null)"}})
            fi
            _wanted images expl 'image, or images to list them' compadd -a images && ret=0
        fi
        ;;
    tag)
        _message 'TAG (default latest)' && ret=0
        ;;
esac
return ret
"#,
        specs = specs.join(" \\\n"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::flags::FLAGS;
    use crate::cli::man::check_committed;

    #[test]
    fn committed_bash_completion_is_current() {
        check_committed(BASH_PATH, &bash());
    }

    #[test]
    fn committed_zsh_completion_is_current() {
        check_committed(ZSH_PATH, &zsh());
    }

    #[test]
    fn abbreviations_of_value_options_follow_the_parser() {
        let source = option_strings()
            .find(|o| o.to_string() == "--source")
            .unwrap();
        // `--s` is --silent (legacy first); `--so` is --source.
        assert_eq!(
            spellings(&source),
            ["--source", "--so", "--sou", "--sour", "--sourc"]
        );
        let project = option_strings()
            .find(|o| o.to_string() == "--project-uuid")
            .unwrap();
        // `--pro` is ambiguous with --progress.
        assert!(spellings(&project).contains(&"--proj".to_string()));
        assert!(!spellings(&project).contains(&"--pro".to_string()));
    }

    #[test]
    fn every_option_string_in_both_scripts() {
        let (bash, zsh) = (bash(), zsh());
        for o in option_strings() {
            let name = o.to_string();
            let mut bash_words = bash.split([' ', '\'', '|', ')', '\n']);
            assert!(bash_words.any(|w| w == name), "{name} not in bash");
            assert!(zsh.contains(&format!("{name}[")) || zsh.contains(&format!("{name}=[")));
        }
        for flag in FLAGS {
            for choice in flag.value.map_or(&[][..], |v| v.choices) {
                assert!(bash.contains(choice) && zsh.contains(choice));
            }
        }
    }

    #[test]
    fn zsh_exclusions_follow_the_parser() {
        let zsh = zsh();
        assert!(zsh.contains("'(--no-pull --source)--pull["), "{zsh}");
        assert!(zsh.contains("'(--pull)--source=["), "{zsh}");
        assert!(zsh.contains("'(- *)--help["));
        assert!(zsh.contains("'(--force)-f["), "{zsh}");
        assert!(zsh.contains("'(-f)--force["), "{zsh}");
    }

    #[test]
    fn zsh_descriptions_are_escaped() {
        assert_eq!(
            zsh_description("Say it: 'x' [y]. More."),
            "Say it\\: '\\''x'\\'' \\[y\\]"
        );
    }
}
