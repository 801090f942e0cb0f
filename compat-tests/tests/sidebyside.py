"""The machinery of the side-by-side suite (test_side_by_side.py).

A scenario (`Row`) says what Docker and the cluster hold before the run, the
command line, the user, and what is expected. `run_side` plays one side of it:
reset the simulated cluster, build the before-state (pre-existing uploads are
always made with the LEGACY tool, so both sides start from the same records),
run one tool, and return an `Outcome` whose every field is normalized so that
what should be equal between the two tools compares equal and nothing else:

* uuids become symbolic names: users -> "alice"/"bob", projects -> their
  names ("project:P"), collections -> "C1", "C2"... in creation order (the
  dump's order), links -> "L1"...;
* the ` (<15 chars>)` that ensure_unique_name appends becomes
  ` (<uuid tail of Cn>)`, naming the collection whose uuid it is;
* timestamps, etags, modified_by and the like are dropped;
* the last stderr line loses its time, pid and X-Request-Id.

What is compared (`Outcome.comparable`): each collection's name, portable data
hash, owner, properties and trash flag; each link's class, name, owner,
properties, head (symbolic name and portable data hash) and tail; whether the
run wrote to Keep at all; stdout; the exit status; and, when the run failed,
the last line of stderr.
"""

import json
import os
import re
import shlex
import subprocess
from dataclasses import dataclass, field
from typing import Callable, Optional

from calls import keep_calls

UUID_RE = re.compile(r"\b[a-z0-9]{5}-[a-z0-9]{5}-[a-z0-9]{15}\b")
UNIQUE_SUFFIX_RE = re.compile(r" \(([a-z0-9]{15})\)$")
LOG_PREFIX_RE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (\S+)\[\d+\] ")
REQUEST_ID_RE = re.compile(r" \(X-Request-Id: req-[a-z0-9]+\)")

SAME = "same"
ORACLE_TWICE = os.environ.get("KDTEST_SBS_ORACLE_TWICE") == "1"
DEFAULT_FORMATS = object()  # the cluster's start-up dockerImageFormats (["v2"])


# --------------------------------------------------------------------------
# The table's vocabulary


@dataclass
class Row:
    """One scenario of the side-by-side table.

    docker:  local names the scenario reads (checked to exist before the run);
    tagged:  {name: source} local tags (re)made before each run;
    absent:  local names untagged before each run (and after it: a tool may
             have pulled them);
    formats: dockerImageFormats of the cluster (DEFAULT_FORMATS: ["v2"]);
    before:  steps building the cluster state, run before each side;
    argv:    the command line, one string split like a shell, with
             placeholders {P} {Q} {S} (project uuids), {ID} (the full id of
             kdtest-plain:v1), {ID12} (its first 12 hex digits), {REG} (the
             local registry's host:port), {ARCHIVE} (a file holding
             `docker save` of kdtest-plain:v1, as legacy uploads it);
    ours_argv: what ours runs instead of argv, for rows that prove a new
             form (`--source=FILE`) leaves exactly what the legacy form does;
    expect:  SAME, or "differs: <the README's reason>" with `check`, which
             asserts our new behaviour on our Outcome (and `legacy_check`
             the legacy behaviour we deliberately do not copy).
    """

    id: str
    argv: str
    expect: str = SAME
    before: tuple = ()
    user: str = "alice"
    docker: tuple = ()
    tagged: dict = field(default_factory=dict)
    absent: tuple = ()
    formats: object = DEFAULT_FORMATS
    check: Optional[Callable] = None
    legacy_check: Optional[Callable] = None
    ours_argv: Optional[str] = None  # ours runs this instead of argv (a new form, same outcome)


class Ctx:
    """What the before-steps and the placeholders need during one side."""

    def __init__(self, side, cluster, tools, image, registry):
        self.side = side
        self.cluster = cluster
        self.tools = tools
        self.image = image  # conftest.Image of kdtest-plain:v1
        self.registry = registry
        self.projects = {}  # name -> uuid

    def placeholders(self):
        values = {"ID": self.image.id, "ID12": self.image.id.split(":")[-1][:12], "REG": self.registry or "?",
                  "ARCHIVE": self.archive_path()}
        values.update(self.projects)
        return values

    def archive_path(self):
        path = self.tools.tmp_path / "kdtest-plain-v1.tar"
        if not path.exists():
            path.write_bytes(self.image.archive)
        return str(path)

    def expand(self, text):
        return text.format(**self.placeholders())


# Before-steps: small callables taking the Ctx. Their repr is what the table
# shows in a failure message.


class Step:
    def __init__(self, text, fn):
        self.text, self.fn = text, fn

    def __call__(self, ctx):
        self.fn(ctx)

    def __repr__(self):
        return self.text


def project(name, owner="alice"):
    """A project named `name` (placeholder {name}), owned by a user or by another project."""

    def fn(ctx):
        owner_uuid = ctx.projects.get(owner, owner)
        ctx.projects[name] = ctx.cluster.create_project(owner_uuid, name)["uuid"]

    return Step("project %s of %s" % (name, owner), fn)


def share(name, user, perm="can_read"):
    def fn(ctx):
        ctx.cluster.share(ctx.projects[name], ctx.cluster.user(user)["uuid"], perm)

    return Step("share %s with %s" % (name, user), fn)


def legacy(argv, user="alice"):
    """A pre-existing upload, made with the legacy tool on both sides."""

    def fn(ctx):
        args = shlex.split(ctx.expand(argv))
        result = ctx.tools.legacy(*args, user=user, home="%s-setup-%s" % (ctx.side, user))
        assert result.returncode == 0, "before-step failed: %s" % result

    return Step("legacy %s as %s" % (argv, user), fn)


def seed(text, fn):
    """Records inserted straight into the cluster (fn(cluster, ctx))."""
    return Step(text, lambda ctx: fn(ctx.cluster, ctx))


# --------------------------------------------------------------------------
# Docker state


def docker(*args, check=True):
    return subprocess.run(["docker", *args], check=check, capture_output=True, text=True)


def image_exists(name):
    return docker("image", "inspect", name, check=False).returncode == 0


def untag(name):
    if image_exists(name):
        docker("rmi", name)


MADE_TAGS = set()  # every local tag made for a row; untagged when the module ends


def make_tags(row, ctx):
    for name, source in row.tagged.items():
        docker("tag", ctx.expand(source), ctx.expand(name))
        MADE_TAGS.add(ctx.expand(name))


def prepare_docker(row, ctx):
    for name in row.absent:
        untag(ctx.expand(name))
    for name in row.docker:
        assert image_exists(ctx.expand(name)), "the scenario needs the local image %s" % ctx.expand(name)


# --------------------------------------------------------------------------
# One side of a scenario


@dataclass
class Outcome:
    side: str
    exit: int
    stdout: str
    stderr_last: str
    collections: list
    links: list
    wrote_keep: bool
    raw: object  # conftest.Result
    dump: dict
    before: list = field(default_factory=list)  # the collections before the run
    registry: Optional[str] = None  # host:port of the local registry, for {REG}

    def comparable(self):
        return {
            "exit": self.exit,
            "stdout": self.stdout,
            "stderr_last": self.stderr_last if self.exit != 0 else None,
            "collections": self.collections,
            "links": sorted(self.links, key=lambda l: json.dumps(l, sort_keys=True)),
            "wrote_keep": self.wrote_keep,
        }

    # Helpers for the checks of "differs" rows.
    def docker_links(self):
        return [l for l in self.links if l["class"] in ("docker_image_hash", "docker_image_repo+tag")]

    def new_collections(self, before):
        return self.collections[len(before) :]


def run_side(side, row, cluster, tools, image, registry):
    ctx = Ctx(side, cluster, tools, image, registry)
    if row.formats is DEFAULT_FORMATS:
        cluster.reset()
    else:
        cluster.reset(docker_image_formats=row.formats)
    make_tags(row, ctx)
    for step in row.before:
        step(ctx)
    before = cluster.dump()
    prepare_docker(row, ctx)
    cluster.clear_log()
    argv = shlex.split(ctx.expand(row.ours_argv if side == "ours" and row.ours_argv and not ORACLE_TWICE else row.argv))
    # KDTEST_SBS_ORACLE_TWICE=1 runs the legacy tool on both sides: every row
    # must then compare equal, which proves the normalization hides no real
    # difference and invents none (uuids, times, unique-name suffixes).
    run = tools.legacy if side == "legacy" or ORACLE_TWICE else tools.ours
    home = "%s-run-%s" % (side, row.user)
    try:
        result = run(*argv, user=row.user, home=home)
    finally:
        for name in row.absent:
            untag(ctx.expand(name))
    dump = cluster.dump()
    outcome = normalize(side, result, dump, cluster, bool(keep_calls(cluster.log())), tools.homes[home])
    outcome.before = normalize(side, result, before, cluster, False).collections
    outcome.registry = registry
    return outcome


def normalize(side, result, dump, cluster, wrote_keep, home=None):
    names = {}
    for who in ("alice", "bob"):
        names[cluster.user(who)["uuid"]] = who
    for group in dump["groups"]:
        names[group["uuid"]] = "project:%s" % group["name"]
    colls = dump["collections"]
    for n, coll in enumerate(colls, 1):
        names[coll["uuid"]] = "C%d" % n
    for n, link in enumerate(dump["links"], 1):
        names[link["uuid"]] = "L%d" % n
    tails = {coll["uuid"][-15:]: names[coll["uuid"]] for coll in colls}
    pdh = {coll["uuid"]: coll["portable_data_hash"] for coll in colls}

    def sym(uuid):
        if uuid is None:
            return None
        return names.get(uuid, "<other uuid>")

    def text(value):
        return UUID_RE.sub(lambda m: names.get(m.group(0), "<unknown uuid>"), value)

    def coll_name(name):
        if name is None:
            return None
        return UNIQUE_SUFFIX_RE.sub(lambda m: " (<uuid tail of %s>)" % tails.get(m.group(1), "?"), name)

    collections = [
        {
            "id": names[c["uuid"]],
            "name": coll_name(c["name"]),
            "pdh": c["portable_data_hash"],
            "owner": sym(c["owner_uuid"]),
            "properties": c.get("properties"),
            "trashed": bool(c.get("is_trashed")),
        }
        for c in colls
    ]
    links = [
        {
            "class": l["link_class"],
            "name": text(l["name"] or ""),
            "owner": sym(l["owner_uuid"]),
            "properties": l.get("properties"),
            "head": sym(l["head_uuid"]),
            "head_pdh": pdh.get(l["head_uuid"]),
            "tail": sym(l.get("tail_uuid")),
        }
        for l in dump["links"]
    ]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    last = REQUEST_ID_RE.sub("", LOG_PREFIX_RE.sub(r"\1 ", last))
    if home is not None:
        last = last.replace(str(home), "$HOME")
    return Outcome(side, result.returncode, text(result.stdout), text(last), collections, links, wrote_keep,
                   result, dump)


def differences(legacy, ours):
    """Field by field, what differs (empty when the outcomes are equal)."""
    a, b = legacy.comparable(), ours.comparable()
    out = []
    for key in a:
        if a[key] != b[key]:
            out.append("%s:\n  legacy: %s\n  ours:   %s" % (key, _show(a[key]), _show(b[key])))
    return out


def _show(value):
    if isinstance(value, list):
        return "\n          ".join(json.dumps(v, sort_keys=True) for v in value) or "[]"
    return repr(value)
