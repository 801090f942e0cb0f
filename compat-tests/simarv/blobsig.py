"""Keep permission signatures (contract §5.1).

A signed locator is `<md5>+<size>[+hints]+A<40 hex>@<8 hex expiry>`. The
signature is HMAC-SHA1, keyed with the cluster's blob signing key, over
`md5 "@" token "@" expiry_hex8 "@" ttl_hex`.

The token is used exactly as the client presented it. Both the real
keepstore (sdk/go/arvados/blob_signature.go, called with the request's
token) and Rails (Thread.current[:token], the accepted token string) sign
and verify with the full presented string; nothing reduces a `v2/uuid/secret`
token to its secret. So a locator signed for `v2/.../secret` does not verify
for the bare secret, and vice versa — the same as on a real cluster.
"""

import hashlib
import hmac
import re
import time

# Same shape as the Go SignedLocatorRe: hash, optional size, hints before and
# after the +A hint.
SIGNED_LOCATOR_RE = re.compile(
    r"^([0-9a-fA-F]{32})(\+[0-9]+)?((?:\+[B-Z][A-Za-z0-9@_-]*)*)"
    r"(\+A([0-9a-fA-F]{40})@([0-9a-fA-F]{8}))((?:\+[B-Z][A-Za-z0-9@_-]*)*)$")

PERM_HINT_RE = re.compile(r"\+A[^+\s]*")


def _signature(key, blob_hash, token, expiry_hex, ttl_seconds):
    msg = "%s@%s@%s@%x" % (blob_hash, token, expiry_hex, int(ttl_seconds))
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha1).hexdigest()


def sign_locator(locator, token, key, ttl_seconds, expiry=None):
    """Append a +A signature to `locator` (which must not already have one).

    `expiry` is unix seconds; default now + ttl. With no token or no key the
    locator is returned unsigned, as the real SignLocator does."""
    if not token or not key:
        return locator
    if expiry is None:
        expiry = int(time.time()) + int(ttl_seconds)
    blob_hash = locator.split("+", 1)[0]
    expiry_hex = "%08x" % int(expiry)
    return "%s+A%s@%s" % (locator, _signature(key, blob_hash, token, expiry_hex, ttl_seconds),
                          expiry_hex)


def verify_locator(locator, token, key, ttl_seconds, now=None):
    """Check a signed locator for `token`.

    Returns "ok", "missing" (no +A hint), "expired" or "invalid"."""
    m = SIGNED_LOCATOR_RE.match(locator)
    if not m:
        return "missing"
    blob_hash, sig, expiry_hex = m.group(1), m.group(5), m.group(6)
    if now is None:
        now = time.time()
    if int(expiry_hex, 16) < now:
        return "expired"
    if not hmac.compare_digest(sig, _signature(key, blob_hash, token, expiry_hex, ttl_seconds)):
        return "invalid"
    return "ok"


def strip_signature(locator):
    return PERM_HINT_RE.sub("", locator)
