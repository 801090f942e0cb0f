"""The server's Docker image resolution (contract §8.1, after Rails'
Collection.find_all_for_docker_image): what a container request's
`container_image` would resolve to for a given user.

Ranking uses whole seconds for both keys, as the real code does
(`to_i`). Ruby's sort_by is not stable; on equal keys this simulation keeps
the database (creation) order and says so here.
"""

import re

from . import filters as F
from . import manifest as M
from .store import Perms, ApiError, SCHEMAS
from .util import SYSTEM_USER_UUID, parse_ts, ruby_inspect


def _format_pattern(formats):
    formats = formats or []
    if "v1" in formats and "v2" in formats:
        return re.compile(r"^(sha256:)?[0-9A-Fa-f]{64}\.tar\Z")
    if "v2" in formats:
        return re.compile(r"^(sha256:)[0-9A-Fa-f]{64}\.tar\Z")
    if "v1" in formats:
        return re.compile(r"^[0-9A-Fa-f]{64}\.tar\Z")
    raise ApiError(422, ["Unrecognized configuration for docker_image_formats %s" % ruby_inspect(list(formats))])


def _compatible(db, perms, pattern, colls):
    """get_compatible_images: exactly one file whose name matches, else a
    docker_image_migration link (owned by the system user) to one that does."""
    if not colls:
        return []
    migrations = {}
    pdhs = set(c.get("portable_data_hash") for c in colls)
    for link in sorted(db.tables["links"].values(), key=lambda l: l.get("created_at") or 0):
        if link.get("link_class") == "docker_image_migration" and link.get("owner_uuid") == SYSTEM_USER_UUID \
                and link.get("tail_uuid") in pdhs:
            migrations[link["tail_uuid"]] = link.get("head_uuid")
    migrated = {}
    for c in db.tables["collections"].values():
        if c.get("portable_data_hash") in migrations.values() and perms.readable("collections", c):
            migrated[c["portable_data_hash"]] = c
    out = []
    for c in colls:
        fl = [f for f in M.files(c.get("manifest_text")) if not (f[1] == "." and f[2] == 0)]
        if len(fl) == 1 and pattern.match(fl[0][1]):
            out.append(c)
            continue
        m = migrated.get(migrations.get(c.get("portable_data_hash")))
        if m:
            fl = [f for f in M.files(m.get("manifest_text")) if not (f[1] == "." and f[2] == 0)]
            if len(fl) == 1 and pattern.match(fl[0][1]):
                out.append(m)
    return out


def _seconds(us):
    return us // 1000000


def _timestamp_key(props):
    # `-link.properties["image_timestamp"].to_datetime.to_i rescue 0`
    v = (props or {}).get("image_timestamp") if isinstance(props, dict) else None
    try:
        return -_seconds(parse_ts(v))
    except (ValueError, TypeError):
        return 0


def find_all_for_docker_image(db, user_uuid, term, tag=None, formats=None):
    """Returns (compatible collections in rank order, ranking details)."""
    pattern = _format_pattern(formats)
    perms = Perms(db, user_uuid)
    colls = db.tables["collections"]
    m = M.LOCATOR_RE.match(term or "")
    if m:
        pdh = m.group(1) + (m.group(2) or "")
        match = [c for c in colls.values()
                 if c.get("portable_data_hash") == pdh and perms.readable("collections", c)][:1]
        return _compatible(db, perms, pattern, match), []
    if tag is None and ":" in term:
        term, tag = term.split(":", 1)

    def candidates(pred):
        links = [l for l in db.tables["links"].values()
                 if pred(l) and perms.readable("links", l)
                 and l.get("head_uuid") in colls and perms.readable("collections", colls[l["head_uuid"]])]
        # ORDER BY links.created_at DESC (ties in creation order)
        return F.sort_records(links, [("created_at", True)], SCHEMAS["links"])

    want = "%s:%s" % (term, tag or "latest")
    matches = candidates(lambda l: l.get("link_class") == "docker_image_repo+tag" and l.get("name") == want)
    if not matches:
        rx = F.like_regex(term + "%", False)
        matches = candidates(lambda l: l.get("link_class") == "docker_image_hash"
                             and isinstance(l.get("name"), str) and rx.match(l["name"]) is not None)
    keys = {}
    for link in matches:  # the oldest link for a collection is seen last and wins
        keys[link["head_uuid"]] = (_timestamp_key(link.get("properties")), -_seconds(link["created_at"]))
    ranked = sorted([c for c in colls.values() if c["uuid"] in keys], key=lambda c: keys[c["uuid"]])
    compatible = _compatible(db, perms, pattern, ranked)
    if ranked and not compatible:
        raise ApiError(422, ["Matching Docker image is incompatible with 'docker_image_formats' configuration."])
    details = [{"uuid": c["uuid"], "portable_data_hash": c.get("portable_data_hash"), "name": c.get("name"),
                "rank_key": list(keys[c["uuid"]])} for c in ranked]
    return compatible, details


def resolve(db, user_uuid, image, tag=None, formats=None):
    """The /_sim/resolve answer: {"pdh", "uuid", "candidates"} or {"error"}."""
    try:
        with db.lock:
            found, details = find_all_for_docker_image(db, user_uuid, image, tag, formats)
    except ApiError as e:
        return {"error": "; ".join(e.messages)}
    if not found:
        return {"error": "docker image %s not found" % ruby_inspect(image)}
    return {
        "pdh": found[0].get("portable_data_hash"),
        "uuid": found[0]["uuid"],
        "candidates": [{"uuid": c["uuid"], "portable_data_hash": c.get("portable_data_hash"),
                        "name": c.get("name")} for c in found],
        "ranking": details,
    }
