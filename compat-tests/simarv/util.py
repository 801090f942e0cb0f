"""Shared helpers: wire-format timestamps, UUIDs, request ids, etags, and
Ruby-style `inspect` strings (the real API server is Rails, so many error
messages embed Ruby's rendering of a value).

Timestamps are kept internally as integer microseconds since the epoch,
because the real database (PostgreSQL) stores microseconds; the controller
prints them with 9 fractional digits, so the last three are always 000.
"""

import datetime
import functools
import hashlib
import json
import random
import re
import threading
import time

CLUSTER_ID = "zzzzz"
SYSTEM_USER_UUID = CLUSTER_ID + "-tpzed-000000000000000"
EMPTY_BLOCK_HASH = "d41d8cd98f00b204e9800998ecf8427e"

_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
_rng = random.SystemRandom()

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def random_alnum(n):
    return "".join(_rng.choice(_ALNUM) for _ in range(n))


def new_uuid(infix):
    """A fresh object UUID, `zzzzz-<infix>-<15 random [a-z0-9]>`."""
    return "%s-%s-%s" % (CLUSTER_ID, infix, random_alnum(15))


def new_request_id():
    """Request ids look like the controller's: `req-` + 20 chars of [0-9a-z]."""
    return "req-" + random_alnum(20)


def error_token():
    """Rails' error_token: `<unix seconds>+<8 hex>`."""
    return "%d+%08x" % (int(time.time()), _rng.getrandbits(32))


_clock_lock = threading.Lock()
_last_us = [0]


def now_us():
    """Current time in microseconds, strictly increasing across calls so two
    records created one after the other never share a timestamp by accident
    (tests that want equal timestamps seed them explicitly)."""
    with _clock_lock:
        t = int(time.time() * 1000000)
        if t <= _last_us[0]:
            t = _last_us[0] + 1
        _last_us[0] = t
        return t


@functools.lru_cache(maxsize=1 << 16)
def fmt_ts(us):
    """Format like the controller (Go "2006-01-02T15:04:05.000000000Z07:00")."""
    if us is None:
        return None
    dt = _EPOCH + datetime.timedelta(microseconds=us)
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + ".%06d000Z" % dt.microsecond


_TS_RE = re.compile(
    r"^\s*(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*(Z|z|UTC|[+-]\d{2}(?::?\d{2})?)?\s*$")


def parse_ts(s):
    """Parse an ISO-8601/RFC-3339 timestamp into microseconds (UTC).

    A time without an offset is taken as UTC (the server's zone). Digits
    beyond microseconds are truncated, as Rails does when it quotes a time
    for a query. Raises ValueError with Ruby's wording on failure."""
    if not isinstance(s, str):
        raise ValueError("no time information in %s" % ruby_inspect(s))
    m = _TS_RE.match(s)
    if not m:
        raise ValueError("no time information in %s" % ruby_inspect(s))
    year, month, day, hh, mm, ss, frac, tz = m.groups()
    try:
        dt = datetime.datetime(int(year), int(month), int(day),
                               int(hh or 0), int(mm or 0), int(ss or 0),
                               tzinfo=datetime.timezone.utc)
    except ValueError:
        raise ValueError("argument out of range")
    us = int(((frac or "") + "000000")[:6])
    offset = 0
    if tz and tz not in ("Z", "z", "UTC"):
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        offset = sign * (int(digits[:2]) * 3600 + int(digits[2:4] or 0) * 60)
    delta = dt - _EPOCH
    return ((delta.days * 86400 + delta.seconds - offset) * 1000000) + us


def etag_for(record):
    """Rails computes etags as base36 of an md5 of the record's attributes."""
    digest = hashlib.md5(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()
    n = int(digest, 16)
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = "0123456789abcdefghijklmnopqrstuvwxyz"[r] + out
    return out or "0"


def ruby_inspect(value):
    """Render a JSON-decoded value the way Ruby's #inspect would."""
    if value is None:
        return "nil"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        out = ['"']
        for ch in value:
            if ch == '"':
                out.append('\\"')
            elif ch == "\\":
                out.append("\\\\")
            elif ch == "\n":
                out.append("\\n")
            elif ch == "\t":
                out.append("\\t")
            elif ch == "\r":
                out.append("\\r")
            elif ch == "\x1b":
                out.append("\\e")
            elif ord(ch) < 0x20 or ord(ch) == 0x7f:
                out.append("\\x%02X" % ord(ch))
            else:
                out.append(ch)
        out.append('"')
        return "".join(out).replace('#{', '\\#{').replace('#$', '\\#$').replace('#@', '\\#@')
    if isinstance(value, (int, float)):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(ruby_inspect(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join("%s=>%s" % (ruby_inspect(k), ruby_inspect(v))
                               for k, v in value.items()) + "}"
    return repr(value)


def ruby_class(value):
    """Ruby class name of a JSON-decoded value (used in Rails error texts)."""
    if value is None:
        return "NilClass"
    if value is True:
        return "TrueClass"
    if value is False:
        return "FalseClass"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "Float"
    if isinstance(value, str):
        return "String"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, dict):
        return "ActiveSupport::HashWithIndifferentAccess"
    return type(value).__name__


def go_duration(seconds):
    """Format seconds the way Go prints a time.Duration ("336h0m0s")."""
    seconds = int(seconds)
    if seconds == 0:
        return "0s"
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    if h:
        return "%dh%dm%ds" % (h, m, s)
    if m:
        return "%dm%ds" % (m, s)
    return "%ds" % s


def json_bytes(obj, sort_keys=True):
    """Encode like Go's json.Encoder with SetEscapeHTML(false): UTF-8, no
    HTML escaping, trailing newline. Go encodes maps with sorted keys."""
    return (json.dumps(obj, sort_keys=sort_keys, ensure_ascii=False,
                       separators=(",", ":")) + "\n").encode("utf-8")
