//! Shell completions of `arv-docker` for bash and zsh, generated from its
//! table: the commands, each command's options (and their values: files
//! and the daemon's images for `-i`, the choices of `--from` and
//! `--format`), and the daemon's images for `load -i` and `push NAME`.
//! Committed under `man/completions/`; a test regenerates them and fails
//! on any difference.

use super::{option_strings, Act, Command, DockerFlag, COMMANDS};

/// The bash script, relative to the repository root.
pub const BASH_PATH: &str = "man/completions/arv-docker.bash";
/// The zsh script, relative to the repository root.
pub const ZSH_PATH: &str = "man/completions/_arv-docker";

const REFRESH: &str = "ARV_KEEPDOCKER_BLESS=1 cargo test --lib committed_";

/// The Docker daemon's images as `repo:tag`, bounded in time so that an
/// unreachable daemon never hangs the shell.
const DOCKER_IMAGES: &str =
    "timeout 3 docker image ls --filter dangling=false --format '{{.Repository}}:{{.Tag}}'";

/// What an option's value is completed with.
enum ValueKind {
    /// Files and the daemon's images (`load -i`).
    FilesAndImages,
    Words(&'static [&'static str]),
    Nothing,
}

fn value_kind(flag: &DockerFlag) -> ValueKind {
    match flag.act {
        Act::Input => ValueKind::FilesAndImages,
        _ => match flag.value() {
            Some(v) if !v.choices.is_empty() => ValueKind::Words(v.choices),
            _ => ValueKind::Nothing,
        },
    }
}

/// Whether the command's positional is completed with the daemon's images.
fn images_for_positional(command: Command) -> bool {
    command == Command::Push
}

fn words(command: Option<Command>) -> Vec<String> {
    option_strings(command).into_iter().map(|o| o.0).collect()
}

/// The bash completion script.
pub fn bash() -> String {
    let names: Vec<&str> = COMMANDS.iter().map(|c| c.name).collect();
    let mut value_cases = String::new();
    let mut option_cases = String::new();
    for c in COMMANDS {
        let opts = option_strings(Some(c.command));
        for (text, flag, negated) in &opts {
            if *negated || flag.value().is_none() {
                continue;
            }
            let action = match value_kind(flag) {
                ValueKind::FilesAndImages => "_arv_docker_files; _arv_docker_images add".into(),
                ValueKind::Words(w) => format!("_arv_docker_words '{}'", w.join(" ")),
                ValueKind::Nothing => ":".to_string(),
            };
            value_cases.push_str(&format!(
                "        {}:{text})\n            {action}\n            return 0\n            ;;\n",
                c.name
            ));
        }
        let with_value: Vec<&str> = opts
            .iter()
            .filter(|(_, f, n)| !n && f.value().is_some())
            .map(|(t, _, _)| t.as_str())
            .collect();
        option_cases.push_str(&format!(
            "        {})\n            options='{}'\n            with_value='{}'\n            ;;\n",
            c.name,
            words(Some(c.command)).join(" "),
            with_value.join(" ")
        ));
    }
    let image_commands: Vec<&str> = COMMANDS
        .iter()
        .filter(|c| images_for_positional(c.command))
        .map(|c| c.name)
        .collect();
    format!(
        r#"# bash completion for arv-docker
# Generated from the arv-docker table by src/cli/docker/complete.rs: do not edit.
# Refresh with: {REFRESH}

_arv_docker_files()
{{
    compopt -o filenames 2>/dev/null
    local IFS=$'\n'
    COMPREPLY=($(compgen -f -- "$cur"))
}}

_arv_docker_words()
{{
    local IFS=$' \t\n'
    COMPREPLY=($(compgen -W "$1" -- "$cur"))
}}

# The local Docker daemon's images (added to COMPREPLY with "add").
_arv_docker_images()
{{
    type -P docker >/dev/null 2>&1 || return 0
    local IFS=$'\n' images
    images=$({DOCKER_IMAGES} 2>/dev/null)
    if [[ $1 == add ]]; then
        COMPREPLY+=($(compgen -W "$images" -- "$cur"))
    else
        COMPREPLY=($(compgen -W "$images" -- "$cur"))
    fi
}}

_arv_docker()
{{
    local cur=${{COMP_WORDS[COMP_CWORD]}} prev= command= options= with_value= prefix= i word
    local positionals=0 ended=
    COMPREPLY=()
    (( COMP_CWORD > 0 )) && prev=${{COMP_WORDS[COMP_CWORD-1]}}
    for (( i = 1; i < COMP_CWORD; i++ )); do
        case ${{COMP_WORDS[i]}} in
            {commands})
                command=${{COMP_WORDS[i]}}
                break
                ;;
        esac
    done
    if [[ -z $command ]]; then
        if [[ $cur == -* ]]; then
            _arv_docker_words '{global}'
        else
            _arv_docker_words '{names}'
        fi
        return 0
    fi
    case $command in
{option_cases}    esac

    # The value of an option: --opt VALUE, --opt=VALUE, or the three words
    # bash makes of the latter when '=' is in COMP_WORDBREAKS.
    local opt=$prev
    if [[ $cur == --*=* ]]; then
        opt=${{cur%%=*}} prefix=${{cur%%=*}}= cur=${{cur#*=}}
    elif [[ $cur == = && $prev == --* ]]; then
        opt=$prev cur=
    elif [[ $prev == = ]] && (( COMP_CWORD > 1 )); then
        opt=${{COMP_WORDS[COMP_CWORD-2]}}
    fi
    case $command:$opt in
{value_cases}    esac
    if [[ -n $prefix ]]; then
        return 0
    fi

    if [[ $cur == -* ]]; then
        _arv_docker_words "$options"
        return 0
    fi
    # The positional: the daemon's images where a command takes an image name.
    for (( i = i + 1; i < COMP_CWORD; i++ )); do
        word=${{COMP_WORDS[i]}}
        if [[ $word == -- ]]; then
            ended=1
        elif [[ -z $ended && " $with_value " == *" $word "* ]]; then
            (( i++ ))
        elif [[ -n $ended || $word != -* ]]; then
            (( positionals++ ))
        fi
    done
    case $command in
        {image_commands})
            (( positionals == 0 )) && _arv_docker_images
            ;;
    esac
    return 0
}}

complete -F _arv_docker arv-docker
"#,
        commands = names.join("|"),
        names = names.join(" "),
        global = words(None).join(" "),
        image_commands = image_commands.join("|"),
    )
}

/// A description for zsh's `_arguments`: the first sentence, with the
/// characters it treats specially escaped.
fn zsh_description(help: &str) -> String {
    let mut first = Vec::new();
    for word in help.split_whitespace() {
        first.push(word);
        if word.ends_with('.') {
            break;
        }
    }
    let sentence = first.join(" ");
    let mut out = String::new();
    for c in sentence.trim_end_matches('.').chars() {
        if matches!(c, '[' | ']' | ':' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.replace('\'', "'\\''")
}

fn zsh_specs(command: Option<Command>) -> Vec<String> {
    let mut specs = Vec::new();
    for (text, flag, negated) in option_strings(command) {
        let help = super::doc::row_help(flag, negated);
        let (name, value) = match flag.value() {
            Some(v) if !negated => {
                let action = match value_kind(flag) {
                    ValueKind::FilesAndImages => "_arv_docker_input".to_string(),
                    ValueKind::Words(w) => format!("({})", w.join(" ")),
                    ValueKind::Nothing => " ".to_string(),
                };
                let eq = if text.starts_with("--") { "=" } else { "" };
                (
                    format!("{text}{eq}"),
                    format!(":{}:{action}", v.metavar.to_lowercase()),
                )
            }
            _ => (text.clone(), String::new()),
        };
        let stop = if flag.act == Act::Help || flag.act == Act::Version {
            "(- *)"
        } else {
            ""
        };
        specs.push(format!(
            "        '{stop}{name}[{}]{value}'",
            zsh_description(help)
        ));
    }
    specs
}

/// The zsh completion function (an autoloaded `_arv-docker`).
pub fn zsh() -> String {
    let commands: Vec<String> = COMMANDS
        .iter()
        .map(|c| format!("        '{}:{}'", c.name, zsh_description(c.summary)))
        .collect();
    let mut cases = String::new();
    for c in COMMANDS {
        let positional = if images_for_positional(c.command) {
            "'1:name:_arv_docker_images'"
        } else {
            "'1: :_message -r \"\"'"
        };
        let (metavar, _) = c.arguments[0];
        let positional = positional.replace("\"\"", &format!("'\\''{metavar}'\\''"));
        cases.push_str(&format!(
            "        {})\n            _arguments -s -S \\\n{} \\\n                {positional} && ret=0\n            ;;\n",
            c.name,
            zsh_specs(Some(c.command))
                .iter()
                .map(|s| format!("        {s}"))
                .collect::<Vec<_>>()
                .join(" \\\n")
        ));
    }
    format!(
        r#"#compdef arv-docker
# zsh completion for arv-docker
# Generated from the arv-docker table by src/cli/docker/complete.rs: do not edit.
# Refresh with: {REFRESH}

_arv_docker_images() {{
    local -a images
    (( $+commands[docker] )) && images=(${{(f)"$({DOCKER_IMAGES} 2>/dev/null)"}})
    _wanted images expl 'Docker image' compadd -a images
}}

_arv_docker_input() {{
    _alternative 'files:archive:_files' 'images:Docker image:_arv_docker_images'
}}

local curcontext=$curcontext state state_descr line expl ret=1
typeset -A opt_args

_arguments -C \
{global} \
    '1:command:->command' \
    '*::argument:->argument' && ret=0

case $state in
    command)
        local -a commands
        commands=(
{commands}
        )
        _describe -t commands 'arv-docker command' commands && ret=0
        ;;
    argument)
        curcontext=${{curcontext%:*:*}}:arv-docker-$line[1]:
        case $line[1] in
{cases}        esac
        ;;
esac
return ret
"#,
        global = zsh_specs(None)
            .iter()
            .map(|s| s.replacen("        ", "    ", 1))
            .collect::<Vec<_>>()
            .join(" \\\n"),
        commands = commands.join("\n"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::man::check_committed;

    #[test]
    fn committed_docker_bash_completion_is_current() {
        check_committed(BASH_PATH, &bash());
    }

    #[test]
    fn committed_docker_zsh_completion_is_current() {
        check_committed(ZSH_PATH, &zsh());
    }

    #[test]
    fn every_command_and_option_in_both_scripts() {
        let (bash, zsh) = (bash(), zsh());
        for c in COMMANDS {
            assert!(
                bash.contains(&format!("        {})\n", c.name)),
                "{}",
                c.name
            );
            assert!(zsh.contains(&format!("'{}:", c.name)), "{}", c.name);
            for (text, flag, _) in option_strings(Some(c.command)) {
                let bash_words = bash.split([' ', '\'', '|', ')', '\n', ':']);
                assert!(bash_words.clone().any(|w| w == text), "{text} not in bash");
                assert!(zsh.contains(&format!("{text}[")) || zsh.contains(&format!("{text}=[")));
                for choice in flag.value().map_or(&[][..], |v| v.choices) {
                    assert!(bash.contains(choice) && zsh.contains(choice));
                }
            }
        }
    }
}
