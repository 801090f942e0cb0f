"""Turn the simulated cluster's request log into short, comparable call names.

A log entry such as ``GET /arvados/v1/links?filters=[...]&order=...`` becomes
``links.list[link_class=docker_image_hash name=sha256:…]``; the paging
filters that keyset listing adds (spec §2.3) become a ``+page`` suffix, so
that a test can state a whole call sequence the way the spec writes it.
"""

import json
import re

CLASS_NAMES = {
    "docker_image_hash": "HASH",
    "docker_image_repo+tag": "RT",
}


def _filters(params):
    raw = params.get("filters")
    if raw is None:
        return []
    if isinstance(raw, str):
        raw = json.loads(raw)
    return raw


def _is_paging(f):
    attr, op = f[0], f[1]
    return attr == "created_at" or (attr == "uuid" and op in (">", "!="))


def _describe(f):
    attr, op, operand = f
    if attr == "link_class" and op == "=":
        return CLASS_NAMES.get(operand, operand)
    if op in ("in", "not in"):
        return "%s %s[%d]" % (attr, op, len(operand))
    return "%s %s %s" % (attr, op, operand)


def call_name(entry):
    """One log entry -> a short name (see the module docstring)."""
    server = entry["server"]
    method = entry["method"]
    path = entry["path"].split("?")[0]
    if server != "api":
        return "keep %s" % method
    if path.startswith("/discovery/"):
        return "discovery"
    parts = path.strip("/").split("/")[2:]  # after arvados/v1
    if parts == ["config"]:
        return "config"
    resource = parts[0]
    if len(parts) == 2 and parts[1] in ("current", "accessible"):
        return "%s.%s" % (resource, parts[1])
    if len(parts) == 1:
        verb = {"GET": "list", "POST": "create"}[method]
    else:
        verb = {"GET": "get", "PUT": "update", "PATCH": "update", "DELETE": "delete"}[method]
    name = "%s.%s" % (resource, verb)
    if verb == "list":
        filters = _filters(entry.get("params") or {})
        paging = [f for f in filters if _is_paging(f)]
        rest = [_describe(f) for f in filters if not _is_paging(f)]
        name += "[%s]" % " ".join(sorted(rest))
        if paging:
            name += "+page"
    return name


def api_calls(log):
    """Names of the API calls in a request log, in order."""
    return [call_name(e) for e in log if e["server"] == "api"]


def keep_calls(log):
    return [e for e in log if e["server"] != "api"]


def stored_puts(log):
    """(hash, size) of each PUT a Keep server stored, in log order: a block
    stored on two servers appears twice."""
    return [
        (e["path"].strip("/").split("+")[0], e["body"]["size"])
        for e in keep_calls(log)
        if e["method"] == "PUT" and e["status"] == 200
    ]


def keyset(name, items):
    """The calls keyset_list_all makes (spec §2.3) for a result of ``items``
    rows that all share one created_at (the case for 0 or 1 rows)."""
    if items == 0:
        return [name]
    if items == 1:
        return [name, name + "+page", name + "+page"]
    raise ValueError("state the sequence explicitly for more rows")


def strip_discovery(calls):
    """The discovery fetch may be served from the client's disk cache."""
    return [c for c in calls if c != "discovery"]


def without_filters(name):
    return re.sub(r"\[.*\]", "", name)
