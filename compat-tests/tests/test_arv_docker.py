"""`arv-docker load|push|pull|images` (issue 17) against the arv-keepdocker
command line each one is the same as.

Every comparison plays two command lines, our `arv-docker ...` and our
`arv-keepdocker ...`, each on a freshly reset simulated cluster with the same
before-state (made with arv-keepdocker), and compares what sidebyside.normalize
makes of the outcomes: the collections (name, portable data hash, owner,
properties), the links (class, name, owner, properties, head), whether Keep
was written, stdout, the exit status, and the last stderr line of a failure.
They must be equal; a few tests also check a fact of the outcome directly
(which project got the link, which image push chose).

Covered: every INPUT kind of `load` (file, standard input, collection UUID,
portable data hash, Docker daemon image by name and by id, with and without a
new name), the three sources of `push` (--source, the best image of that name
in Arvados, the Docker daemon), each with and without --project-uuid; the
listing and its filter; usage errors and bad input (one clear error, exit
status 1 or 2, the cluster unchanged).
"""

import json
import os
import re
import subprocess

import pytest
from calls import keep_calls
from conftest import ERROR_LINE, ROOT, generated
from registry_testbed import registries  # noqa: F401  (a fixture)
from sidebyside import differences, normalize

PLAIN = "kdtest-plain:v1"  # a fixture image of the Docker test bed
GEN = "kdtest/gen:1.0"  # the repo:tag of the generated archives


def play(side, cluster, tools, argv, before=None, input=None):
    """Reset the cluster, build the before-state, run one command line
    (placeholders from the before-state filled in); the normalized outcome."""
    cluster.reset()
    values = dict(tools.values)
    if before is not None:
        before(cluster, tools, values, side)
    cluster.clear_log()
    args = [a.format(**values) for a in argv]
    run = tools.docker if side == "arv-docker" else tools.ours
    result = run(*args, home=side, input=input)
    outcome = normalize(side, result, cluster.dump(), cluster, bool(keep_calls(cluster.log())), tools.homes[side])
    outcome.values = values
    return outcome


def same(cluster, tools, docker_argv, keepdocker_argv, before=None, input=None):
    """Both command lines, the same outcome, and a successful one."""
    ours = play("arv-docker", cluster, tools, docker_argv, before, input)
    theirs = play("arv-keepdocker", cluster, tools, keepdocker_argv, before, input)
    diff = differences(theirs, ours)
    assert diff == [], "arv-docker %s\narv-keepdocker %s\n%s\n%s\n%s" % (
        docker_argv, keepdocker_argv, "\n".join(diff), ours.raw, theirs.raw)
    assert ours.exit == 0, ours.raw
    return ours


@pytest.fixture
def t(tools, tmp_path, image_of):
    """The tools, with the files the command lines name: {ARCHIVE} (a
    generated archive tagged kdtest/gen:1.0), {SAVED} (`docker save` of
    kdtest-plain:v1), {ID} (its image id)."""
    _, data, path = generated(tmp_path, name="gen.tar", layout="oci", repo_tags=[GEN], seed="arv-docker")
    image = image_of(PLAIN)
    saved = tmp_path / "saved.tar"
    saved.write_bytes(image.archive)
    tools.values = {"ARCHIVE": str(path), "SAVED": str(saved), "ID": image.id}
    tools.archive = data
    return tools


def ok(result):
    assert result.returncode == 0, result
    return result


# --------------------------------------------------------------------------
# Before-states


def project(name):
    def fn(cluster, tools, values, side):
        values[name] = cluster.create_project("alice", name)["uuid"]

    return fn


def steps(*fns):
    def fn(cluster, tools, values, side):
        for f in fns:
            f(cluster, tools, values, side)

    return fn


def uploaded(into=None, archive="{ARCHIVE}"):
    """The archive uploaded by arv-keepdocker (into a project made here):
    {C} its collection, {PDH} its portable data hash."""

    def fn(cluster, tools, values, side):
        args = ["--no-progress", "--source=" + archive.format(**values)]
        if into:
            values[into] = cluster.create_project("alice", into)["uuid"]
            args.append("--project-uuid=" + values[into])
        values["C"] = ok(tools.ours(*args, home=side + "-setup")).stdout.strip()
        [coll] = [c for c in cluster.dump()["collections"] if c["uuid"] == values["C"]]
        values["PDH"] = coll["portable_data_hash"]

    return fn


P = ["--project-uuid={P}"]
PROJECTS = {"home": ([], None), "project": (P, project("P"))}


# --------------------------------------------------------------------------
# load


@pytest.mark.parametrize("where", PROJECTS)
@pytest.mark.parametrize("name", [[], ["x/renamed:2"]])
def test_load_file(cluster, t, where, name):
    extra, before = PROJECTS[where]
    same(cluster, t, ["load", "-i", "{ARCHIVE}", *extra, *name], ["--source={ARCHIVE}", *extra, *name], before)
    same(cluster, t, ["load", "--from=file", "--input={ARCHIVE}", *name, *extra],
         ["--from=file", "--source={ARCHIVE}", *extra, *name], before)


@pytest.mark.parametrize("options", [
    ["--format=json", "--name=my image", "--replication=1"],
    ["--dry-run"],
    ["--dry-run", "--format", "json"],
    ["--silent", "--no-cache", "--batch-progress"],
])
def test_load_passes_the_upload_options_on(cluster, t, options):
    outcome = same(cluster, t, ["load", *options, "-i", "{ARCHIVE}"], [*options, "--source={ARCHIVE}"])
    if "--dry-run" in options:
        assert outcome.collections == [] and not outcome.wrote_keep
    if "--format=json" in options:
        assert json.loads(outcome.raw.stdout)["collection"]["name"] == "my image"


@pytest.mark.parametrize("where", PROJECTS)
@pytest.mark.parametrize("argv", [["load"], ["load", "-i", "-", "x/stdin:3"]])
def test_load_stdin(cluster, t, where, argv):
    extra, before = PROJECTS[where]
    keepdocker = ["--source=-", *extra, *argv[3:]]
    outcome = same(cluster, t, [*argv, *extra], keepdocker, before, input=t.archive)
    assert outcome.wrote_keep


@pytest.mark.parametrize("where", PROJECTS)
@pytest.mark.parametrize("by", ["C", "PDH"])
def test_load_collection(cluster, t, where, by):
    extra, make = PROJECTS[where]
    before = steps(uploaded(into="src"), *([make] if make else []))
    ident = "{%s}" % by
    outcome = same(cluster, t, ["load", *extra, "-i", ident, "copy/x:1"], ["--source=" + ident, *extra, "copy/x:1"],
                   before)
    assert not outcome.wrote_keep  # a collection source moves no bytes
    same(cluster, t, ["load", "--from", "collection", "-i", ident, *extra],
         ["--from=collection", "--source=" + ident, *extra], before)


@pytest.mark.parametrize("where", PROJECTS)
def test_load_daemon_image(cluster, t, where):
    extra, before = PROJECTS[where]
    # By name, and by id; the name recorded is the daemon's, as for IMAGE.
    same(cluster, t, ["load", "-i", PLAIN, *extra], [PLAIN, *extra], before)
    same(cluster, t, ["load", "--from=daemon", "-i", "{ID}", *extra], ["{ID}", *extra], before)
    # Another name: what `docker save` of the image uploaded under it leaves.
    outcome = same(cluster, t, ["load", "-i", PLAIN, *extra, "x/daemon:9"], ["--source={SAVED}", *extra, "x/daemon:9"],
                   before)
    names = sorted(l["name"] for l in outcome.links if l["class"] == "docker_image_repo+tag")
    assert names == ["x/daemon:9"]


# --------------------------------------------------------------------------
# push


def test_push_source_names_it_where_it_is(cluster, t):
    before = uploaded(into="imgs")
    outcome = same(cluster, t, ["push", "--source={C}", "pub/x:1"], ["--source={C}", "--project-uuid=source", "pub/x:1"],
                   before)
    [link] = [l for l in outcome.links if l["name"] == "pub/x:1"]
    assert link["owner"] == "project:imgs" and link["head"] == "C1"
    assert len(outcome.collections) == 1 and not outcome.wrote_keep


@pytest.mark.parametrize("by", ["C", "PDH"])
def test_push_source_into_a_project(cluster, t, by):
    before = steps(uploaded(into="imgs"), project("P"))
    ident = "{%s}" % by
    outcome = same(cluster, t, ["push", "--source=" + ident, *P, "pub/x:1"],
                   ["--source=" + ident, "--from=collection", *P, "pub/x:1"], before)
    owners = {l["owner"] for l in outcome.links if l["head"] == "C2"}
    assert owners == {"project:P"}


def two_images_of_one_name(cluster, tools, values, side):
    """kdtest/gen:1.0 twice in project src, an older and a newer image; {C}
    is the one the legacy tool's listing shows first."""
    src = cluster.create_project("alice", "src")["uuid"]
    made = []
    for n, created in enumerate(["2024-01-01T00:00:00Z", "2025-06-01T00:00:00Z"]):
        _, _, path = generated(tools.tmp_path, name="%s-%d.tar" % (side, n), layout="oci", repo_tags=[GEN],
                               seed="push-%d" % n, created=created)
        made.append(ok(tools.ours("--no-progress", "--source=%s" % path, "--project-uuid=" + src,
                                  home=side + "-setup")).stdout.strip())
    listing = ok(tools.legacy("images", home=side + "-listing")).stdout.splitlines()
    rows = [line.split() for line in listing[1:]]
    first = [row[3] for row in rows if row[:2] == GEN.split(":")][0]
    assert first in made
    values["C"] = first
    values["NEWER"] = made[1]


@pytest.mark.parametrize("where", PROJECTS)
def test_push_the_best_image_of_that_name_in_arvados(cluster, t, where):
    extra, make = PROJECTS[where]
    before = steps(two_images_of_one_name, *([make] if make else []))
    outcome = same(cluster, t, ["push", *extra, GEN], ["--source={C}", *extra, GEN], before)
    assert not outcome.wrote_keep
    # The listing prefers the newer image: that is the one published.
    assert outcome.values["C"] == outcome.values["NEWER"]


@pytest.mark.parametrize("where", PROJECTS)
def test_push_from_the_daemon_when_arvados_has_no_such_name(cluster, t, where):
    extra, before = PROJECTS[where]
    outcome = same(cluster, t, ["push", *extra, PLAIN], [PLAIN, *extra], before)
    assert outcome.wrote_keep


# --------------------------------------------------------------------------
# pull: the registry source (a registry of registry_testbed)


@pytest.mark.parametrize("where", list(PROJECTS))
@pytest.mark.parametrize(
    "pulled",
    [
        ("kdtest/plain:v1", []),
        ("kdtest/multi:v1", ["--platform=linux/arm64/v8"]),
        ("kdtest/plain:v1", ["--compressed-layers", "--name=pulled"]),
    ],
    ids=["tag", "platform", "compressed-named"],
)
def test_pull_is_the_registry_source(cluster, t, registries, where, pulled):
    ref, options = pulled
    extra, before = PROJECTS[where]
    ref = "%s/%s" % (registries.get("anonymous").address, ref)
    outcome = same(
        cluster,
        t,
        ["pull", *extra, *options, "docker://" + ref],
        [*extra, *options, "--source=docker://" + ref],
        before,
    )
    assert outcome.wrote_keep


# --------------------------------------------------------------------------
# images


def some_images(cluster, tools, values, side):
    uploaded()(cluster, tools, values, side)
    _, _, path = generated(tools.tmp_path, name="other-%s.tar" % side, layout="classic", repo_tags=["kdtest/other:2"],
                           seed="other")
    ok(tools.ours("--no-progress", "--source=%s" % path, "kdtest/gen:2.0", home=side + "-setup"))
    ok(tools.ours("--no-progress", "--source=%s" % path, home=side + "-setup"))


def test_images_is_the_listing(cluster, t):
    same(cluster, t, ["images"], ["images"], some_images)
    same(cluster, t, ["images", "--format=json"], ["--format=json"], some_images)


@pytest.mark.parametrize("name,keep", [
    ("kdtest/gen", lambda repo, tag: repo == "kdtest/gen"),
    ("kdtest/gen:2.0", lambda repo, tag: (repo, tag) == ("kdtest/gen", "2.0")),
    ("kdtest/none", lambda repo, tag: False),
])
def test_images_filtered_to_a_name(cluster, t, name, keep):
    cluster.reset()
    some_images(cluster, t, dict(t.values), "one")
    full = ok(t.ours("images")).stdout.splitlines()
    got = ok(t.docker("images", name)).stdout.splitlines()
    want = full[:1] + [line for line in full[1:] if keep(*line.split()[:2])]
    assert got == want
    assert len(want) == {"kdtest/gen": 3, "kdtest/gen:2.0": 2, "kdtest/none": 1}[name]
    full_json = json.loads(ok(t.ours("--format=json")).stdout)["images"]
    got_json = json.loads(ok(t.docker("images", "--format", "json", name)).stdout)["images"]
    assert got_json == [row for row in full_json if keep(row["repo"], row["tag"])]


# --------------------------------------------------------------------------
# Usage errors and bad input: one clear error, exit 1 or 2, nothing changed.


def writes(log):
    return [(e["server"], e["method"], e["path"]) for e in log
            if (e["server"] == "api" and e["method"] != "GET")
            or (e["server"] != "api" and e["method"] not in ("GET", "HEAD"))]


USAGE = [
    (["lod"], None, "'lod' is not an arv-docker command (did you mean 'load'?)"),
    ([], None, "no command given (images, load, push, pull)"),
    (["load", "--frce", "-i", "{ARCHIVE}"], "load", "unknown flag: --frce (did you mean --force?)"),
    (["load", "--source={ARCHIVE}"], "load", "unknown flag: --source (an option of arv-docker push)"),
    (["load", "-i", "{ARCHIVE}", "a", "b"], "load", '"load" takes at most one argument, NAME[:TAG]; got 2'),
    (["load", "--from=collection", "-i", "{ARCHIVE}"], "load",
     "-i {ARCHIVE}: not a collection UUID or portable data hash"),
    (["load", "-i", "{ARCHIVE}", "--retries=many"], "load", "argument --retries: invalid int value: 'many'"),
    (["push"], "push", '"push" needs NAME[:TAG]'),
    (["push", "--source={ARCHIVE}", "x"], "push",
     "--source takes a collection UUID or portable data hash, not '{ARCHIVE}' "
     "(to store an archive: arv-docker load -i FILE NAME)"),
    (["push", "--source={C}", "sha256:{HEX12}"], "push", "name the image NAME[:TAG], not by an image id: sha256:{HEX12}"),
    (["pull"], "pull", '"pull" needs REF'),
    (["images", "--name=x"], "images", "unknown flag: --name (an option of arv-docker load, push, pull)"),
]


def unchanged(cluster, tools, argv, input=None):
    """Runs arv-docker on a cluster holding one image; asserts that nothing
    changed and nothing was written, and that stdout is empty."""
    cluster.reset()
    values = dict(tools.values)
    uploaded()(cluster, tools, values, "errors")
    values["HEX12"] = values["ID"].split(":")[1][:12]
    before = cluster.dump()
    cluster.clear_log()
    args = [a.format(**values) for a in argv]
    result = tools.docker(*args, home="errors", input=input)
    assert writes(cluster.log()) == [], result
    assert cluster.dump() == before, result
    assert result.stdout == "", result
    return result, values


@pytest.mark.parametrize("argv,command,message", USAGE, ids=[" ".join(r[0]) or "nothing" for r in USAGE])
def test_usage_errors(cluster, t, argv, command, message):
    result, values = unchanged(cluster, t, argv)
    assert result.returncode == 2, result
    where = "arv-docker %s" % command if command else "arv-docker"
    assert result.stderr.splitlines() == [
        "%s: %s" % (where, message.format(**values)),
        "See '%s --help'." % where,
    ]


def corrupt(cluster, tools, values, side):
    _, _, path = generated(tools.tmp_path, name="bad.tar", layout="oci", repo_tags=[GEN], corrupt="no-manifest")
    values["BAD"] = str(path)


BAD_INPUT = [
    # (arv-docker, the same arv-keepdocker command or None, stdin, what the last line says)
    (["load", "-i", "{BAD}"], ["--source={BAD}"], None, "manifest.json"),
    (["load"], ["--source=-"], b"", "standard input"),
    (["load", "-i", "zzzzz-4zz18-000000000000000"], ["--source=zzzzz-4zz18-000000000000000"], None,
     "zzzzz-4zz18-000000000000000"),
    (["load", "--from=daemon", "-i", "kdtest/nosuch:1"], ["kdtest/nosuch:1"], None, "no matching image found"),
    (["push", "kdtest/nosuch:1"], ["kdtest/nosuch:1"], None, "no matching image found"),
    (["load", "-i", "nope.tar"], None, None,
     "-i 'nope.tar': no such file, and not a collection UUID, a portable data hash or a Docker image name "
     "(use --from=file, --from=collection or --from=daemon to say which was meant)"),
    (["pull", "--retries=0", "docker://{REGISTRY}/kdtest/nosuch:1"],
     ["--retries=0", "--source=docker://{REGISTRY}/kdtest/nosuch:1"], None, "no such image in the registry"),
]


@pytest.mark.parametrize("argv,keepdocker,stdin,words", BAD_INPUT, ids=[" ".join(r[0]) for r in BAD_INPUT])
def test_bad_input(cluster, t, registries, argv, keepdocker, stdin, words):
    t.values["BAD"] = None
    t.values["REGISTRY"] = registries.get("anonymous").address
    corrupt(cluster, t, t.values, "bad")
    result, values = unchanged(cluster, t, argv, input=stdin)
    assert result.returncode == 1, result
    last = result.stderr.splitlines()[-1]
    assert ERROR_LINE.match(last), result
    assert words.format(**values) in last, result
    if keepdocker is not None:
        theirs = play("arv-keepdocker", cluster, t, keepdocker, uploaded(), stdin)
        ours = play("arv-docker", cluster, t, argv, uploaded(), stdin)
        assert differences(theirs, ours) == []


# --------------------------------------------------------------------------
# The man page and the completions, through the real tools (as test_docs.py
# checks arv-keepdocker's).

from test_docs import bash_complete as docs_bash_complete  # noqa: E402
from test_docs import need, run, zsh_complete  # noqa: E402

MAN_PAGE = ROOT / "man" / "arv-docker.1"
BASH_SCRIPT = ROOT / "man" / "completions" / "arv-docker.bash"


def test_man_page_lints_clean_and_renders_every_option(arv_docker):
    assert run(need("mandoc"), "-T", "lint", str(MAN_PAGE)).stdout == ""
    groff = run(need("groff"), "-man", "-ww", "-z", str(MAN_PAGE))
    assert (groff.returncode, groff.stdout, groff.stderr) == (0, "", "")
    rendered = run(need("man"), "-l", str(MAN_PAGE), env=dict(os.environ, MANWIDTH="100", MAN_KEEP_FORMATTING="0"))
    text = re.sub(r".\x08", "", rendered.stdout)
    for command in ["images", "load", "push", "pull"]:
        assert re.search(r"^   %s \[OPTIONS\]" % command, text, re.M), command
        help_text = run(str(arv_docker), command, "--help").stdout
        for option in set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", help_text)):
            assert option in text, (command, option)


def bash_complete(words, cwd=None):
    return docs_bash_complete(words, cwd, script_path=BASH_SCRIPT, command="arv-docker")


@pytest.mark.parametrize("words, expected", [
    ([""], ["images", "load", "pull", "push"]),
    (["p"], ["pull", "push"]),
    (["--v"], ["--version"]),
    (["load", "--fr"], ["--from"]),
    (["load", "--from", ""], ["collection", "daemon", "file"]),
    (["load", "--from", "=", "d"], ["daemon"]),
    (["images", "--format=j"], ["json"]),
    (["push", "--so"], ["--source"]),
    (["images", "--so"], []),
    (["pull", "--pl"], ["--platform"]),
])
def test_bash_candidates(words, expected):
    assert bash_complete(words) == expected


def test_bash_input_completes_files(tmp_path):
    (tmp_path / "hello.tar").write_bytes(b"")
    assert bash_complete(["load", "-i", "he"], cwd=tmp_path) == ["hello.tar"]


@pytest.mark.parametrize("line, expected", [
    ("arv-docker pu", ["pull", "push"]),
    ("arv-docker load --fr", ["--from"]),
    ("arv-docker load --from=", ["collection", "daemon", "file"]),
    ("arv-docker push --sou", ["--source"]),
])
def test_zsh_candidates(line, expected, tmp_path):
    assert zsh_complete(line, tmp_path) == expected
