"""Manifest text (contract §6): validation with Rails' messages, signature
stripping and signing, the portable data hash, and file listings.

The rules follow the Ruby SDK's Keep::Manifest.validate! and the Rails
Collection model (munge_manifest_locators, portable_manifest_text); the Go
controller's SignManifest decides which tokens get re-signed on the way out.
"""

import hashlib
import re

from . import blobsig
from .util import ruby_inspect, EMPTY_BLOCK_HASH

# Ruby Keep::Locator::LOCATOR_REGEXP: hash, optional +size, optional hints.
LOCATOR_RE = re.compile(r"^([0-9a-fA-F]{32})(\+([0-9]+))?((\+([A-Z][A-Za-z0-9@_-]*))+)?\Z")

_STREAM_TOKEN_RE = re.compile(r"^(?:[^\x00-\x20\\]|\\[0-3][0-7][0-7])+\Z")
_STREAM_NAME_RE = re.compile(r"^(\.)(/[^/]+)*\Z")
_EMPTY_DIR_TOKEN_RE = re.compile(r"^0:0:\.\Z")
_FILE_TOKEN_RE = re.compile(r"^[0-9]+:[0-9]+:(?:[^\x00-\x20\\]|\\[0-3][0-7][0-7])+\Z")
_FILE_NAME_RE = re.compile(r"^[0-9]+:[0-9]+:([^/]+(?:/[^/]+)*)\Z")
_NON_8BIT_RE = re.compile(r"[^\\]\\[4-7][0-7][0-7]")
_DOT_COMPONENT_RE = re.compile(r"/\.\.?(/|\Z)")
_UNESCAPE_RE = re.compile(r"\\(\\|[0-7]{3})")
# Go's SignManifest re-signs every token that starts with 32 lowercase hex.
_BLOCK_TOKEN_RE = re.compile(r"^[0-9a-f]{32}")


class ManifestError(ValueError):
    pass


def unescape(s):
    """Undo manifest escapes: `\\ooo` octal and `\\\\`."""
    if s is None:
        return None

    def repl(m):
        g = m.group(1)
        return "\\" if g == "\\" else chr(int(g, 8))
    return _UNESCAPE_RE.sub(repl, s)


def escape(name):
    """Escape a stream or file name: backslash, colon and bytes 0-32."""
    out = []
    for ch in name:
        if ch == "\\" or ch == ":" or ord(ch) <= 32:
            out.append("\\%03o" % ord(ch))
        else:
            out.append(ch)
    return "".join(out)


def is_locator(token):
    return token is not None and LOCATOR_RE.match(token) is not None


def _ruby_split_space(line):
    # Ruby's String#split(/ /) keeps leading empty fields and drops trailing ones.
    words = line.split(" ")
    while words and words[-1] == "":
        words.pop()
    return words


def validate(text):
    """Raise ManifestError with Keep::Manifest.validate!'s message if invalid."""
    if text is None:
        raise ManifestError("No manifest found")
    if text == "":
        return
    if not text.endswith("\n"):
        raise ManifestError("Invalid manifest: does not end with newline")
    for line_count, line in enumerate(text.splitlines(True), 1):
        words = _ruby_split_space(line[:-1] if line.endswith("\n") else line)
        if not words:
            raise ManifestError("Manifest invalid for stream %d: missing stream name" % line_count)
        word = words.pop(0)
        if _NON_8BIT_RE.search(word):
            raise ManifestError("Manifest invalid for stream %d: >8-bit encoded chars not allowed on stream token %s"
                                % (line_count, ruby_inspect(word)))
        uw = unescape(word)
        if not (_STREAM_TOKEN_RE.match(word) and _STREAM_NAME_RE.match(uw) and not _DOT_COMPONENT_RE.search(uw)):
            raise ManifestError("Manifest invalid for stream %d: missing or invalid stream name %s"
                                % (line_count, ruby_inspect(word) if word else ""))
        count = 0
        word = words.pop(0) if words else None
        while word is not None and LOCATOR_RE.match(word):
            word = words.pop(0) if words else None
            count += 1
        if count == 0:
            raise ManifestError("Manifest invalid for stream %d: missing or invalid locator %s"
                                % (line_count, ruby_inspect(word) if word is not None else ""))
        count = 0
        if word is not None and _NON_8BIT_RE.search(word):
            raise ManifestError("Manifest invalid for stream %d: >8-bit encoded chars not allowed on file token %s"
                                % (line_count, ruby_inspect(word)))
        while word is not None:
            uw = unescape(word)
            ok = bool(_EMPTY_DIR_TOKEN_RE.match(uw))
            if not ok and _FILE_TOKEN_RE.match(word):
                m = _FILE_NAME_RE.match(uw)
                ok = bool(m) and not ({"..", "."} & set(m.group(1).split("/")))
            if not ok:
                break
            word = words.pop(0) if words else None
            count += 1
        if word is not None:
            raise ManifestError("Manifest invalid for stream %d: invalid file token %s"
                                % (line_count, ruby_inspect(word)))
        if count == 0:
            raise ManifestError("Manifest invalid for stream %d: no file tokens" % line_count)
        if line.endswith(" \n"):
            raise ManifestError("Manifest invalid for stream %d: trailing space" % line_count)


def munge_locators(text, fn):
    """Rails' munge_manifest_locators: each line is right-stripped and split
    on whitespace; every word after the first that is a locator is replaced
    by fn(match). Lines are re-joined with single spaces."""
    if text is None:
        return None
    if text == "":
        return ""
    out = []
    for line in text.splitlines():
        words = line.split()
        new = []
        for w in words:
            if new:
                m = LOCATOR_RE.match(w)
                new.append(fn(m) if m else w)
            else:
                new.append(w)
        out.append(" ".join(new))
    return "\n".join(out) + "\n"


def strip_signatures(text):
    """What Rails stores: locators with every +A hint removed (§6.2)."""
    return munge_locators(text, lambda m: re.sub(r"\+A[^+]*", "", m.group(0)))


def portable_data_hash(text):
    """PDH per §6.2: locators reduced to hash+size, md5 + "+" + byte length."""
    def portable(m):
        return m.group(1) + (m.group(2) or "")
    pm = munge_locators(text or "", portable)
    data = pm.encode("utf-8")
    return "%s+%d" % (hashlib.md5(data).hexdigest(), len(data))


def sign_manifest(text, token, key, ttl_seconds, expiry):
    """The controller's SignManifest: every token starting with 32 lowercase
    hex has its +A hints replaced by a fresh signature for `token`."""
    if not text or not token:
        return text

    def sign_token(m):
        tok = m.group(0)
        if _BLOCK_TOKEN_RE.match(tok):
            return blobsig.sign_locator(blobsig.strip_signature(tok), token, key, ttl_seconds, expiry)
        return tok
    return re.sub(r"\S+", sign_token, text)


def check_signatures(text, token, key, ttl_seconds, now):
    """Rails' check_signatures: every locator needs a valid +A signature for
    the caller's token, except the empty block when it carries none.
    Returns True if acceptable."""
    for line in text.splitlines():
        for tok in line.split():
            if tok == "." or tok.startswith("./"):
                continue
            if re.match(r"^[0-9]+:[0-9]+:", tok):
                continue
            if _rails_verify(tok, token, key, ttl_seconds, now):
                continue
            m = LOCATOR_RE.match(tok)
            if m and m.group(4) and re.search(r"\+A", m.group(4)):
                return False  # a signature was given but did not verify
            if m and m.group(1) == EMPTY_BLOCK_HASH:
                continue
            return False
    return True


def _rails_verify(tok, token, key, ttl_seconds, now):
    # Blob.verify_signature!: loose parsing of "+A<sig>@<ts>".
    blob_hash = tok.split("+", 1)[0]
    tail = tok.split("+A")[-1].split("+")[0].split("@")
    if len(tail) < 2:
        return False
    given, timestamp = tail[0], tail[1]
    if not re.match(r"^[0-9a-f]+\Z", timestamp):
        return False
    if int(timestamp, 16) < now:
        return False
    expected = blobsig._signature(key, blob_hash, token, timestamp, ttl_seconds)
    return given == expected


def file_specs(text):
    """Yield (stream, name, size) for each file segment (Keep::Manifest)."""
    for line in (text or "").splitlines():
        stream = None
        in_files = False
        for tok in line.split():
            if stream is None:
                stream = unescape(tok)
            elif in_files or not is_locator(tok):
                in_files = True
                parts = tok.split(":", 2)
                if len(parts) < 3:
                    continue
                name = unescape(parts[2])
                s = stream
                if "/" in name:
                    d, _, name = name.rpartition("/")
                    s = stream + "/" + d
                try:
                    size = int(parts[1])
                except ValueError:
                    size = 0
                yield s, name, size


def files(text):
    """[(stream, name, total size)] in first-seen order, like Keep::Manifest#files."""
    sizes = {}
    for s, name, size in file_specs(text):
        sizes[(s, name)] = sizes.get((s, name), 0) + size
    return [(s, n, z) for (s, n), z in sizes.items()]


def file_stats(text):
    """(file_count, file_size_total), ignoring empty-directory placeholders."""
    fl = [f for f in files(text) if not (f[1] == "." and f[2] == 0)]
    return len(fl), sum(f[2] for f in fl)


def block_locators(text):
    """Every locator token in the manifest, in order."""
    out = []
    for line in (text or "").splitlines():
        for tok in line.split()[1:]:
            if is_locator(tok):
                out.append(tok)
    return out
