"""Human progress under a pseudo-terminal (issue 19).

Each form runs with its stderr on a pty, as in a person's terminal. The
bytes written there are replayed through a small terminal model (carriage
return, newline, overwrite) to get the screen a person would read; the
checks are on that screen and on every redraw:

* with a total (a file: exact; the daemon: Docker's size, marked `~`):
  done / total, a percentage never above 100, a rate and the time left;
* without one (standard input): bytes read and the rate;
* every log line on the screen is whole: no redraw landed in it;
* a narrow terminal gets shorter redraws, never longer than its width;
* `--batch-progress` stays arv-put's format, with -1 for an estimate.

The Keep servers answer slowly (a fixed latency), so every upload lasts
long enough for several redraws however fast the machine is.
"""

import os
import pty
import re
import select
import subprocess

import pytest
from conftest import OUR_BINARY, assert_no_secrets, docker, generated

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d arvados[.a-z_]*\[\d+\] (DEBUG|INFO|WARNING|ERROR): .*$")
SIZE = r"\d+\.\d (?:MiB)|\d+\.\d\d GiB"
KNOWN = re.compile(r"^(%s) / (~?)(%s)  (\d+\.\d)%%(?:  (-- MiB/s|(?:%s)/s))?(?:  (\S+) left)?(?:  reused (?:%s))?$"
                   % (SIZE, SIZE, SIZE, SIZE))
UNKNOWN = re.compile(r"^(%s)(?:  (-- MiB/s|(?:%s)/s))?$" % (SIZE, SIZE))
SUMMARY = re.compile(r"INFO: Uploaded (%s) \(reused (%s)\) in \d+\.\d s, (%s)/s on average$" % (SIZE, SIZE, SIZE))
LATENCY = {"keep": 400}


def run_on_pty(tools, argv, columns=100, stdin=None, extra_env=None):
    """Runs our tool with stderr on a pty; returns (exit, stdout, raw stderr)."""
    env = tools.env(extra=dict(extra_env or {}, COLUMNS=str(columns), TERM="xterm"))
    master, slave = pty.openpty()
    proc = subprocess.Popen([str(OUR_BINARY), *argv], env=env, stdin=stdin or subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    raw = b""
    while True:
        ready, _, _ = select.select([master], [], [], 300)
        assert ready, "no output for 300 s"
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        raw += chunk
    os.close(master)
    stdout = proc.stdout.read().decode()
    proc.wait(timeout=60)
    text = raw.decode("utf-8", "replace")
    assert_no_secrets(tools.cluster, stdout + text)
    return proc.returncode, stdout, text


def screen(raw):
    """The lines a terminal shows for `raw` (no wrapping, no scrolling)."""
    lines, cur, col = [], [], 0
    for ch in raw:
        if ch == "\r":
            col = 0
        elif ch == "\n":
            lines.append("".join(cur).rstrip())
            cur, col = [], 0
        else:
            if col < len(cur):
                cur[col] = ch
            else:
                cur.append(ch)
            col += 1
    if cur:
        lines.append("".join(cur).rstrip())
    return lines


def redraws(raw):
    """Every progress text drawn: the pieces between carriage returns and
    newlines that are not (parts of) log lines or blanking."""
    pieces = re.split(r"[\r\n]", raw)
    # An indented piece continues a log message over a second line (the
    # legacy resume warning); a progress line never starts with a blank.
    return [p.rstrip() for p in pieces if p.strip() and not LOG_LINE.match(p) and not p[0].isspace()]


def check_screen(raw):
    """Every non-empty screen line is a whole log line or a progress line."""
    shown = [l for l in screen(raw) if l]
    for before, line in zip([""] + shown, shown):
        if line[0].isspace() and LOG_LINE.match(before):
            continue  # a log message's second line
        if "arvados" in line or re.search(r"\d{4}-\d\d-\d\d", line):
            assert LOG_LINE.match(line), "a log line was broken by a redraw: %r" % line
        else:
            assert KNOWN.match(line) or UNKNOWN.match(line), "not a progress line: %r" % line
    return shown


def mib(text):
    value, unit = text.split()
    return float(value) * (1024 if unit == "GiB" else 1)


def check_known_total(raw, estimate):
    frames = redraws(raw)
    parsed = [KNOWN.match(f) for f in frames]
    assert frames and all(parsed), frames
    assert all((m.group(2) == "~") == estimate for m in parsed[:-1]), frames
    assert all(float(m.group(4)) <= 100.0 for m in parsed), frames
    assert float(parsed[-1].group(4)) == 100.0, frames
    # A rate and the time left appear while it runs (not in the first
    # redraw, which comes before any byte is read).
    assert any(m.group(5) and m.group(5) != "-- MiB/s" and m.group(6) for m in parsed), frames
    return parsed


@pytest.fixture
def slow_keep(cluster):
    cluster.faults(latency_ms=LATENCY)
    yield
    cluster.clear_faults()


def test_file_shows_total_percentage_rate_and_time_left(cluster, tools, tmp_path, slow_keep):
    _, _, path = generated(tmp_path, repo_tags=["kdtest/tty:file"], seed="tty-file", layers=3,
                           layer_size=50 << 20)
    code, out, raw = run_on_pty(tools, ["--source=%s" % path, "kdtest/tty:file"])
    assert code == 0, raw
    assert re.fullmatch(r"zzzzz-4zz18-[0-9a-z]{15}\n", out)
    parsed = check_known_total(raw, estimate=False)
    size = os.path.getsize(path)
    assert {m.group(3) for m in parsed} == {"%.1f MiB" % (size / 2 ** 20)}
    shown = check_screen(raw)
    # The last redraw stays on the screen, above the log lines.
    assert KNOWN.match(shown[0]) and float(KNOWN.match(shown[0]).group(4)) == 100.0, shown
    assert "Collection saved as" in shown[-2] and SUMMARY.search(shown[-1]), shown


def test_stdin_shows_bytes_and_rate(cluster, tools, tmp_path, slow_keep):
    _, _, path = generated(tmp_path, repo_tags=["kdtest/tty:stdin"], seed="tty-stdin", layers=3,
                           layer_size=50 << 20)
    with open(path, "rb") as f:
        code, out, raw = run_on_pty(tools, ["--source=-", "kdtest/tty:stdin"], stdin=f)
    assert code == 0, raw
    frames = redraws(raw)
    parsed = [UNKNOWN.match(f) for f in frames]
    assert frames and all(parsed), frames
    assert any(m.group(2) and m.group(2) != "-- MiB/s" for m in parsed), frames
    assert mib(parsed[-1].group(1)) == pytest.approx(os.path.getsize(path) / 2 ** 20, abs=0.05)
    check_screen(raw)


@pytest.fixture
def daemon_image(tmp_path, docker_host):
    """A 100 MiB image loaded into the test daemon, removed afterwards."""
    tag = "kdtest-tty/daemon:%d" % os.getpid()
    _, data, _ = generated(tmp_path, repo_tags=[tag], seed="tty-daemon", layers=2, layer_size=50 << 20)
    subprocess.run(["docker", "load"], input=data, check=True, capture_output=True)
    yield tag
    docker("image", "rm", "--force", tag, check=False)


def test_daemon_shows_an_estimate_never_past_100_percent(cluster, tools, daemon_image, slow_keep):
    code, out, raw = run_on_pty(tools, ["--force", daemon_image])
    assert code == 0, raw
    parsed = check_known_total(raw, estimate=True)
    check_screen(raw)
    # The final redraw gives what was read, which Docker's size underestimates.
    assert mib(parsed[-1].group(3)) >= mib(parsed[0].group(3))


def test_narrow_terminal_gets_shorter_lines(cluster, tools, tmp_path, slow_keep):
    _, _, path = generated(tmp_path, repo_tags=["kdtest/tty:narrow"], seed="tty-narrow", layers=2,
                           layer_size=50 << 20)
    code, _, raw = run_on_pty(tools, ["--source=%s" % path, "kdtest/tty:narrow"], columns=30)
    assert code == 0, raw
    frames = redraws(raw)
    assert frames and all(len(f) < 30 for f in frames), frames
    assert all(re.match(r"^(%s) / (%s)  \d+\.\d%%$" % (SIZE, SIZE), f) for f in frames), frames


def test_batch_progress_keeps_the_machine_format(cluster, tools, tmp_path, daemon_image):
    _, _, path = generated(tmp_path, repo_tags=["kdtest/tty:batch"], seed="tty-batch")
    size = os.path.getsize(path)
    result = tools.ours("--batch-progress", "--source=%s" % path, "kdtest/tty:batch")
    assert result.returncode == 0, result
    lines = [l for l in result.stderr.splitlines() if not LOG_LINE.match(l)]
    assert lines and all(re.fullmatch(r"\S+ \d+: \d+ written %d total" % size, l) for l in lines), lines
    assert lines[-1].split()[2] == str(size)
    # An estimate is never printed there: the daemon's total is -1.
    result = tools.ours("--batch-progress", "--force", daemon_image)
    assert result.returncode == 0, result
    lines = [l for l in result.stderr.splitlines() if not LOG_LINE.match(l)]
    assert lines and all(re.fullmatch(r"\S+ \d+: \d+ written -1 total", l) for l in lines), lines
    assert "\r" not in result.stderr


def test_no_redraw_without_a_terminal_or_with_no_progress(cluster, tools, tmp_path):
    _, _, path = generated(tmp_path, repo_tags=["kdtest/tty:quiet"], seed="tty-quiet")
    for argv in (["--source=%s" % path], ["--no-progress", "--source=%s" % path],
                 ["--silent", "--source=%s" % path]):
        result = tools.ours(*argv, "--force", "kdtest/tty:quiet")
        assert result.returncode == 0, result
        assert "\r" not in result.stderr and " written " not in result.stderr, result
        assert all(LOG_LINE.match(l) for l in result.stderr.splitlines()), result.stderr
    code, _, raw = run_on_pty(tools, ["--no-progress", "--force", "--source=%s" % path, "kdtest/tty:quiet"])
    assert code == 0 and not redraws(raw), raw


def test_a_resumed_upload_shows_the_bytes_it_did_not_send(cluster, tools, tmp_path):
    # Interrupted once two blocks are stored (four PUTs, two replicas),
    # then rerun in a terminal: the two blocks are reused, not sent.
    _, data, path = generated(tmp_path, repo_tags=["kdtest/tty:resume"], seed="tty-resume", layers=1,
                              layer_size=150 << 20)
    cluster.faults(keep_put_fail={"after": 4, "count": 1000, "status": 500})
    failed = tools.ours("--retries", "0", "--source=%s" % path, "kdtest/tty:resume")
    assert failed.returncode == 1, failed
    cluster.clear_faults()
    cluster.faults(latency_ms=LATENCY)
    code, _, raw = run_on_pty(tools, ["--source=%s" % path, "kdtest/tty:resume"])
    cluster.clear_faults()
    assert code == 0, raw
    parsed = check_known_total(raw, estimate=False)
    reused = [re.search(r"  reused (%s)$" % SIZE, f) for f in redraws(raw)]
    assert reused[-1] and mib(reused[-1].group(1)) == 128.0, redraws(raw)
    assert float(parsed[-1].group(4)) == 100.0
    [summary] = [l for l in screen(raw) if SUMMARY.search(l)]
    sent, skipped = SUMMARY.search(summary).group(1, 2)
    assert mib(skipped) == 128.0 and mib(sent) == pytest.approx(len(data) / 2 ** 20 - 128.0, abs=0.05)
