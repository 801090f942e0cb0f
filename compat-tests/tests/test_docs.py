"""The man page and the shell completions, checked with the real tools.

The files are generated from the flag table and committed (`man/`); the Rust
unit tests fail when they are stale. Here they go through what a user's
machine does with them: `mandoc -T lint` and `groff -ww` must say nothing,
`man` must render every option `--help` lists, and bash and zsh must offer
the right candidates when the scripts are loaded the way the shells load
them. The tools are installed by `.ci/run`; under CI=true a missing one is
a failure, elsewhere the test is skipped saying why.
"""

import os
import pty
import re
import select
import shutil
import subprocess
import time

import pytest

from conftest import OUR_BINARY, ROOT

MAN_PAGE = ROOT / "man" / "arv-keepdocker.1"
BASH_SCRIPT = ROOT / "man" / "completions" / "arv-keepdocker.bash"
ZSH_DIR = ROOT / "man" / "completions"


def need(tool):
    path = shutil.which(tool)
    if path:
        return path
    message = "%s is not installed (on Debian: apt-get install %s)" % (
        tool,
        {"groff": "groff-base", "man": "man-db"}.get(tool, tool),
    )
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message + "; skipped outside CI")


def run(*args, **kwargs):
    return subprocess.run(args, capture_output=True, text=True, **kwargs)


def test_mandoc_lint_says_nothing():
    result = run(need("mandoc"), "-T", "lint", str(MAN_PAGE))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_groff_warns_about_nothing():
    result = run(need("groff"), "-man", "-ww", "-z", str(MAN_PAGE))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_man_renders_every_option_of_help():
    rendered = run(need("man"), "-l", str(MAN_PAGE), env=dict(os.environ, MANWIDTH="100", MAN_KEEP_FORMATTING="0"))
    assert rendered.returncode == 0, rendered.stderr
    text = re.sub(r".\x08", "", rendered.stdout)
    help_text = run(str(OUR_BINARY), "--help").stdout
    options = set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", help_text))
    assert {"--source", "--project-uuid", "--no-cache"} <= options
    for option in options:
        assert option in text, option
    for heading in ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "ENVIRONMENT", "FILES",
                    "EXIT STATUS", "EXAMPLES", "COMPATIBILITY", "SEE ALSO"]:
        assert re.search(r"^%s$" % heading, text, re.M), heading
    assert "arv-keepdocker - upload or list Docker images in Arvados" in text


# --------------------------------------------------------------------------
# bash: the script is sourced, as bash-completion loads it, and the function
# is called with COMP_WORDS split the way bash splits them ('=' is a word
# break by default).


def bash_complete(words, cwd=None, script_path=None, command="arv-keepdocker"):
    """The candidates bash offers for `command words...` (the last word
    being completed), from the completion script at script_path."""
    script = """
source "$1"
shift
COMP_WORDS=("$@")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
PATH=/nonexistent  # no docker: only what the script itself offers
_%s
printf '%%s\\n' "${COMPREPLY[@]}"
""" % command.replace("-", "_")
    result = subprocess.run(
        [need("bash"), "-c", script, "bash", str(script_path or BASH_SCRIPT), command, *words],
        capture_output=True, text=True, cwd=cwd,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return sorted(line for line in result.stdout.split("\n") if line)


def test_bash_registers_the_function():
    result = run(need("bash"), "-c", 'source "$1" && complete -p arv-keepdocker', "bash", str(BASH_SCRIPT))
    assert result.stdout.strip() == "complete -F _arv_keepdocker arv-keepdocker"


@pytest.mark.parametrize(
    "words, expected",
    [
        (["--fr"], ["--from"]),
        (["--no-p"], ["--no-progress", "--no-pull"]),
        (["--from", ""], ["collection", "file"]),
        (["--from", "=", "c"], ["collection"]),
        (["--fro", "=", ""], ["collection", "file"]),
        (["--project-uuid", ""], ["source"]),
        (["--proj", "=", "s"], ["source"]),
        (["--name", ""], []),
        (["im"], ["images"]),
        (["--force", ""], ["images"]),
        (["--name", "x", ""], ["images"]),
        (["debian", ""], []),
        (["--source", "x.tar", ""], []),
        # after --, arguments only
        (["--", "--fr"], []),
        (["--", "im"], ["images"]),
        (["--", "img", ""], []),
    ],
)
def test_bash_candidates(words, expected):
    assert bash_complete(words) == expected


def test_bash_source_completes_files_and_stdin(tmp_path):
    (tmp_path / "hello.tar").write_bytes(b"")
    (tmp_path / "other").write_bytes(b"")
    assert bash_complete(["--source", "=", "he"], cwd=tmp_path) == ["hello.tar"]
    assert bash_complete(["--so", "h"], cwd=tmp_path) == ["hello.tar"]
    assert bash_complete(["--source", ""], cwd=tmp_path) == ["-", "hello.tar", "other"]


# --------------------------------------------------------------------------
# zsh: an interactive `zsh -f` on a pseudo-terminal, with compinit finding
# _arv-keepdocker in fpath, as an installed package is found; a Tab is typed
# and the candidates zsh adds are recorded.


def zsh_complete(line, cwd):
    zsh = need("zsh")
    pid, fd = pty.fork()
    if pid == 0:  # the child: become the shell
        os.chdir(cwd)
        env = dict(os.environ, TERM="dumb", HOME=str(cwd), PATH="/nonexistent")
        os.execve(zsh, [zsh, "-f", "-i"], env)
    setup = [
        "PS1='' RPROMPT=''",
        "fpath=(%s $fpath); autoload -Uz compinit; compinit -u -D" % ZSH_DIR,
        # Record what the completion adds; markers are built from a variable
        # so that the echoed input never contains them.
        "m=HIT",
        'compadd() { local -a hits; builtin compadd -A hits "$@"; local r=$?; '
        'local h; for h in $hits; do builtin print -r -- "<${m}>$h</${m}>"; done; '
        'builtin compadd "$@"; return r; }',
        "done_() { builtin print -r -- '<DO''NE>'; }",
        "comppostfuncs=(done_)",
    ]
    try:
        for command in setup:
            os.write(fd, (command + "\n").encode())
        os.write(fd, (line + "\t").encode())
        out = b""
        deadline = time.monotonic() + 120
        while b"<DONE>" not in out and time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    out += os.read(fd, 65536)
                except OSError:
                    break
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        os.close(fd)
    text = out.decode(errors="replace")
    assert "<DONE>" in text, "zsh did not complete %r:\n%s" % (line, text)
    return sorted(set(re.findall(r"<HIT>(.*?)</HIT>", text)))


@pytest.mark.parametrize(
    "line, expected",
    [
        ("arv-keepdocker --fr", ["--from"]),
        ("arv-keepdocker --from=", ["collection", "file"]),
        ("arv-keepdocker --from ", ["collection", "file"]),
        ("arv-keepdocker --project-uuid=", ["source"]),
        # --pull excludes --source, as the parser does
        ("arv-keepdocker --pull --s", ["--silent", "--storage-classes"]),
        ("arv-keepdocker --sil", ["--silent"]),
        # -f is --force: not offered again
        ("arv-keepdocker -f --for", ["--force-image-format", "--format"]),
        ("arv-keepdocker im", ["images"]),
    ],
)
def test_zsh_candidates(line, expected, tmp_path):
    assert zsh_complete(line, tmp_path) == expected


def test_zsh_source_completes_files(tmp_path):
    (tmp_path / "hello.tar").write_bytes(b"")
    assert zsh_complete("arv-keepdocker --source=hel", tmp_path) == ["hello.tar"]
