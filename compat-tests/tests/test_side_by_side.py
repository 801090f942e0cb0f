"""The side-by-side suite: every scenario run by the legacy tool and by ours.

Each row of SCENARIOS below is played twice, on a freshly reset simulated
cluster each time, with the same Docker state: first the pinned legacy Python
`arv-keepdocker` (the oracle), then our binary. Pre-existing images are
uploaded with the legacy tool on both sides, projects get the same names, and
seeded records get fixed uuids, so both runs start from equal states. The
normalized results (see sidebyside.py: collections, links, whether Keep was
written, stdout, exit status, and the last stderr line of a failed run) must
be equal.

Rows whose expectation starts with "differs:" are the legacy bugs this tool
fixes on purpose (README, "Differences from the Python tool"; issue 4 item 6).
For those the legacy behaviour is asserted as the bug it is, and our new
behaviour is asserted on its own.

Docker state: the fixture images of compat-tests/docker-testbed, a few extra
local tags made here (`registry.example:443/...`), and a real local registry
(Debian docker-registry, started once for this module on a free port, shown
as {REG}) for the --pull rows. Images are only read, so the Docker state is
shared by all rows; the rows that pull untag what they pull before and after
each run.

KDTEST_SBS_ORACLE_TWICE=1 runs the legacy tool on both sides: every row must
then pass, which proves that the normalization neither hides a difference nor
invents one.
"""

import hashlib
import os
import subprocess
import tempfile

import pytest
from conftest import ROOT, one_file_manifest, pdh_of
from sidebyside import (
    MADE_TAGS,
    ORACLE_TWICE,
    SAME,
    Row,
    differences,
    docker,
    legacy,
    project,
    run_side,
    seed,
    share,
    untag,
)

PLAIN = "kdtest-plain:v1"
OTHER = "kdtest-other:v2"
MULTI = "kdtest/multi:1.0.2-rc1"
MULTI_LATEST = "kdtest/multi:latest"
REG = "localhost:5000/kdtest/reg:edge"
MULTI_127 = "127.0.0.1:5000/kdtest/multi:1.0.2-rc1"
X443 = "registry.example:443/kdtest/x:1"  # made here from kdtest-plain:v1
X443_PULLED = "registry.example/kdtest/x:1"  # the name `docker pull` of X443 gives

# Pushed to the local registry ({REG}): name there -> source fixture image.
PUSHED = {
    "{REG}/kdtest/pull1:v1": PLAIN,
    "{REG}/kdtest/pull2:v2": OTHER,
    "{REG}/kdtest/pull3:v1": MULTI,
}

TESTBED = ROOT / "compat-tests" / "docker-testbed"

# --------------------------------------------------------------------------
# Seeded records: images known to Arvados but not to the local Docker, and
# listings with many or hash-only images. Fixed uuids and distinct times, so
# that both sides see the same records in the same order.

CLUSTER = "zzzzz"
V1_HASH = hashlib.sha256(b"a v1 image").hexdigest()  # no sha256: prefix, as old Docker had


def seeded_hash(n):
    return "sha256:" + hashlib.sha256(b"seeded image %d" % n).hexdigest()


def seed_image(cluster, n, hash_name, repo_tags, owner="alice", ts="2023-05-02T16:49:27.123456789Z"):
    """One image as arv-keepdocker stores it: a one-file collection, its hash
    link and one repo+tag link per name; uuids and times fixed by n."""
    size = 1000 + n
    md5 = hashlib.md5(b"seeded block %d" % n).hexdigest()
    fname = hash_name.replace(":", "\\072") + ".tar"
    owner_uuid = cluster.user(owner)["uuid"]
    created = "2024-01-%02dT00:00:%02dZ" % (1 + n // 60, n % 60)
    coll = {
        "uuid": "%s-4zz18-%015d" % (CLUSTER, n),
        "owner_uuid": owner_uuid,
        "name": "Docker image %s" % hash_name[:12],
        "manifest_text": ". %s+%d+A%s@%08x 0:%d:%s\n" % (md5, size, "0f" * 20, 0x7FFFFFFF, size, fname),
        "properties": {"docker-image-repo-tag": repo_tags[0] if repo_tags else None},
        "created_at": created,
    }
    props = {"image_timestamp": ts} if ts else {}
    links = [{"link_class": "docker_image_hash", "name": hash_name}]
    links += [{"link_class": "docker_image_repo+tag", "name": name} for name in repo_tags]
    records = [
        dict(l, uuid="%s-o0j2j-%012d%03d" % (CLUSTER, n, i), head_uuid=coll["uuid"], owner_uuid=owner_uuid,
             properties=props, created_at=created)
        for i, l in enumerate(links)
    ]
    cluster.seed(collections=[coll], links=records)


def seed_many(count):
    def fn(cluster, ctx):
        for n in range(1, count + 1):
            # spread over the years, some with the same day, one tag per image
            ts = "20%02d-%02d-%02dT%02d:00:00Z" % (10 + n % 13, 1 + n % 12, 1 + n % 28, n % 24)
            seed_image(cluster, n, seeded_hash(n), ["team%d/tool-%d:%d.%d" % (n % 3, n, n % 4, n)], ts=ts)

    return seed("%d seeded images" % count, fn)


def seed_hash_only(cluster, ctx):
    seed_image(cluster, 1, seeded_hash(1), ["tagged/one:latest"], ts="2022-01-01T00:00:00Z")
    seed_image(cluster, 2, seeded_hash(2), [], ts="2023-01-01T00:00:00Z")
    seed_image(cluster, 3, seeded_hash(3), [], ts=None)  # CREATED falls back to the link's created_at
    seed_image(cluster, 4, seeded_hash(4), ["tagged/four:1.0", "tagged/four:latest"], ts="2021-06-01T12:30:00Z")


def arvados_only(name, owner="alice", n=7, hash_name=None):
    return seed(
        "%s in Arvados only (%s)" % (name, owner),
        lambda cluster, ctx: seed_image(cluster, n, hash_name or seeded_hash(n), [name] if name else [], owner),
    )


# --------------------------------------------------------------------------
# Checks of our new behaviour, for the "differs" rows.


def fresh_upload(image_of, ref, repo_tag, name=None, owner="alice"):
    """Ours uploaded `ref`'s image once: its collection and links, and stdout."""

    def check(o):
        image = image_of(ref)
        tag = repo_tag and repo_tag.format(REG=o.registry)
        assert o.exit == 0, o.raw
        [coll] = o.collections
        assert o.stdout == coll["id"] + "\n"
        assert coll["pdh"] == pdh_of(one_file_manifest(image.archive, image.id + ".tar"))
        default = "Docker image %s%s" % (tag.replace("/", " ") + " " if tag else "", image.id[:12])
        assert coll["name"] == (name or default)
        assert coll["owner"] == owner
        assert coll["properties"] == {"docker-image-repo-tag": tag}
        want = [("docker_image_hash", image.id)] + ([("docker_image_repo+tag", tag)] if tag else [])
        assert sorted((l["class"], l["name"]) for l in o.links) == want
        for link in o.links:
            assert (link["owner"], link["head"], link["tail"]) == (owner, coll["id"], None)
            assert link["properties"] == {"image_timestamp": image.created}
        assert o.wrote_keep

    return check


def refused(last_line=None, exit=1):
    """Nothing written, the given exit status and (if given) last stderr line."""

    def check(o):
        assert o.exit == exit, o.raw
        assert o.stdout == ""
        assert o.collections == o.before
        if last_line is not None:
            assert o.stderr_last == last_line, o.raw
        assert "Traceback" not in o.raw.stderr

    return check


def reused_existing():
    """Ours found the image already uploaded: nothing new, its UUID printed."""

    def check(o):
        assert o.exit == 0, o.raw
        assert o.collections == o.before
        [coll] = o.collections
        assert o.stdout == coll["id"] + "\n"
        assert not o.wrote_keep

    return check


def legacy_failed(exit, contains):
    def check(o):
        assert o.exit == exit, o.raw
        assert o.collections == o.before
        assert contains in o.raw.stderr, o.raw

    return check


# --------------------------------------------------------------------------
# THE TABLE. Keep one row per distinct input: a different name form, Docker
# state, cluster state, option or option spelling.

P = project("P")
Q = project("Q")
UP_PLAIN = legacy(PLAIN)
USAGE = "arv-keepdocker: error: "


def scenarios(image_of):
    return [
        # -- image names ------------------------------------------------------------------------
        Row("name-repo-tag", "kdtest-plain:v1", docker=(PLAIN,)),
        Row("name-repo-and-tag-positional", "kdtest-plain v1", docker=(PLAIN,)),
        Row("name-slash-default-latest", "kdtest/multi", docker=(MULTI_LATEST,)),
        Row("name-tag-dots-dashes", "kdtest/multi:1.0.2-rc1", docker=(MULTI,)),
        Row("name-tag-dots-dashes-positional", "kdtest/multi 1.0.2-rc1", docker=(MULTI,)),
        Row("name-registry-host-port", "localhost:5000/kdtest/reg:edge", docker=(REG,)),
        Row("name-registry-host-port-positional-tag", "localhost:5000/kdtest/reg edge", docker=(REG,)),
        Row("name-registry-no-tag-means-latest", "localhost:5000/kdtest/reg", docker=(REG,)),
        Row("name-host-port-only", "localhost:5000"),
        Row("name-unknown", "kdtest-nosuch:v1"),
        Row("name-tag-given-twice", "kdtest-plain:v1 v2", docker=(PLAIN,)),
        Row("name-same-image-another-registry-name", MULTI_127, tagged={MULTI_127: MULTI},
            before=(legacy(MULTI),)),
        Row("name-443-only-as-typed-locally", X443, tagged={X443: PLAIN}, absent=(X443_PULLED,)),
        Row("name-443-as-docker-pull-names-it", X443, tagged={X443: PLAIN, X443_PULLED: PLAIN},
            expect="differs: `host:443/x:tag` works (legacy passes the positional on to arv-put, which fails)",
            legacy_check=legacy_failed(2, "unrecognized arguments"),
            check=fresh_upload(image_of, PLAIN, X443_PULLED)),
        Row("name-443-already-uploaded", X443, tagged={X443: PLAIN, X443_PULLED: PLAIN},
            before=(legacy(X443_PULLED),)),
        Row("name-ipv6-registry-in-arvados-only", "[::1]:5000/kdtest/y:2",
            before=(arvados_only("[::1]:5000/kdtest/y:2"),)),
        Row("name-ipv6-registry-nowhere", "[::1]:5000/kdtest/y"),
        # -- images by id -----------------------------------------------------------------------
        Row("id-full-sha256-fresh", "{ID}", docker=(PLAIN,),
            expect="differs: an image named by its full sha256: id works (legacy: arv-put usage error)",
            legacy_check=legacy_failed(2, "unrecognized arguments"),
            check=fresh_upload(image_of, PLAIN, None)),
        Row("id-full-sha256-already-uploaded", "{ID}", docker=(PLAIN,), before=(UP_PLAIN,)),
        Row("id-short-hex-of-local-image", "{ID12}", docker=(PLAIN,), before=(UP_PLAIN,),
            expect="differs: a short hex id Docker knows names that image (legacy asks Docker for "
                   "<hex>:latest, then matches only v1 hash links)",
            legacy_check=legacy_failed(1, "no matching image found"),
            check=reused_existing()),
        Row("id-v1-hash-prefix-in-arvados-only", V1_HASH[:12],
            before=(arvados_only(None, hash_name=V1_HASH),)),
        # -- already present ----------------------------------------------------------------------
        Row("present-in-home", "kdtest-plain:v1", docker=(PLAIN,), before=(UP_PLAIN,)),
        Row("present-in-another-project", "kdtest-plain:v1", docker=(PLAIN,),
            before=(P, legacy("--project-uuid {P} " + PLAIN))),
        Row("present-only-for-bob", "kdtest-plain:v1", docker=(PLAIN,), before=(legacy(PLAIN, user="bob"),)),
        Row("present-in-shared-project", "kdtest-plain:v1", user="bob", docker=(PLAIN,),
            before=(project("S"), legacy("--project-uuid {S} " + PLAIN), share("S", "bob"))),
        Row("present-under-another-tag", "kdtest/multi:1.0.2-rc1", docker=(MULTI,),
            before=(legacy(MULTI_LATEST),)),
        Row("present-in-arvados-only", "kdtest-gone:v1", before=(arvados_only("kdtest-gone:v1"),)),
        Row("present-in-arvados-only-copied-to-project", "--project-uuid {P} kdtest-gone:v1",
            before=(P, arvados_only("kdtest-gone:v1"))),
        # -- --project-uuid ---------------------------------------------------------------------
        Row("project-fresh", "--project-uuid {P} kdtest-plain:v1", docker=(PLAIN,), before=(P,)),
        Row("project-copy-from-home", "--project-uuid={P} kdtest-plain:v1", docker=(PLAIN,),
            before=(P, UP_PLAIN)),
        Row("project-already-there", "--project-uuid {P} kdtest-plain:v1", docker=(PLAIN,),
            before=(P, legacy("--project-uuid {P} " + PLAIN))),
        Row("project-copy-from-other-project", "--project-uuid {Q} kdtest/multi", docker=(MULTI_LATEST,),
            before=(P, Q, legacy("--project-uuid {P} kdtest/multi"))),
        Row("project-subproject", "--project-uuid {Sub} kdtest-other:v2", docker=(OTHER,),
            before=(P, project("Sub", owner="P"))),
        Row("project-option-after-positionals", "kdtest-plain v1 --project-uuid {P}", docker=(PLAIN,),
            before=(P, legacy(OTHER))),
        Row("project-abbreviated", "--proj {P} kdtest-other:v2", docker=(OTHER,), before=(P,)),
        Row("project-not-a-uuid", "--project-uuid not-a-uuid kdtest-plain:v1", docker=(PLAIN,)),
        # -- --force ------------------------------------------------------------------------------
        Row("force-present-in-home", "--force kdtest-plain:v1", docker=(PLAIN,), before=(UP_PLAIN,)),
        Row("force-short-into-project", "-f --project-uuid {P} kdtest-plain:v1", docker=(PLAIN,),
            before=(P, UP_PLAIN)),
        Row("force-nothing-present", "kdtest-other:v2 --force", docker=(OTHER,)),
        # -- --pull (real local registry) -----------------------------------------------------------
        Row("pull-absent-locally", "--pull {REG}/kdtest/pull1:v1",
            absent=("{REG}/kdtest/pull1:v1", "{REG}/kdtest/pull1:latest")),
        Row("pull-present-locally", "--pull {REG}/kdtest/pull3:v1", tagged={"{REG}/kdtest/pull3:v1": MULTI},
            docker=("{REG}/kdtest/pull3:v1",)),
        Row("pull-other-tag-while-latest-is-local", "--pull {REG}/kdtest/pull2:v2",
            tagged={"{REG}/kdtest/pull2:latest": PLAIN}, absent=("{REG}/kdtest/pull2:v2",),
            expect="differs: --pull pulls the requested tag (legacy pulls only if <image>:latest is missing)",
            legacy_check=legacy_failed(1, "no matching image found"),
            check=fresh_upload(image_of, OTHER, "{REG}/kdtest/pull2:v2")),
        Row("pull-not-in-registry", "--pull {REG}/kdtest/nowhere:v1", absent=("{REG}/kdtest/nowhere:v1",),
            expect="differs: a failed pull is a one-line error, not a traceback (exit 1 as before)",
            legacy_check=legacy_failed(1, "Traceback"),
            check=refused()),
        Row("no-pull", "--no-pull kdtest-plain:v1", docker=(PLAIN,)),
        # -- dockerImageFormats ----------------------------------------------------------------------
        Row("formats-v1-only-refused", "kdtest-plain:v1", formats=["v1"], docker=(PLAIN,)),
        Row("formats-v1-only-forced", "--force-image-format kdtest-plain:v1", formats=["v1"], docker=(PLAIN,)),
        Row("formats-v1-only-forced-abbreviated", "--force-i kdtest/multi", formats=["v1"],
            docker=(MULTI_LATEST,)),
        Row("formats-v1-only-already-uploaded", "kdtest-plain:v1", formats=["v1"], docker=(PLAIN,),
            before=(legacy("--force-image-format " + PLAIN),)),
        Row("formats-v1-and-v2", "kdtest-plain:v1", formats=["v1", "v2"], docker=(PLAIN,)),
        Row("formats-empty-list", "kdtest-plain:v1", formats=[], docker=(PLAIN,),
            expect="differs: an empty dockerImageFormats list disables the check, as the server documents",
            legacy_check=legacy_failed(1, "refusing to store incompatible format"),
            check=fresh_upload(image_of, PLAIN, PLAIN)),
        Row("formats-empty-list-forced", "--force-image-format kdtest-other:v2", formats=[], docker=(OTHER,)),
        # -- --name ---------------------------------------------------------------------------------
        Row("name-option", "--name 'my image' kdtest-plain:v1", docker=(PLAIN,)),
        Row("name-option-copy-into-project", "--name=copied --project-uuid {P} kdtest-plain:v1",
            docker=(PLAIN,), before=(P, UP_PLAIN)),
        Row("name-option-already-in-home", "--name renamed kdtest-plain:v1", docker=(PLAIN,), before=(UP_PLAIN,)),
        Row("name-option-latest", "--name latest kdtest/multi", docker=(MULTI_LATEST,),
            expect="differs: `--name latest` works (legacy drops the value before arv-put)",
            legacy_check=legacy_failed(2, "expected one argument"),
            check=fresh_upload(image_of, MULTI_LATEST, MULTI_LATEST, name="latest")),
        Row("name-option-double-dash", "--name=-- kdtest-other:v2", docker=(OTHER,),
            expect="differs: `--name=--` takes the literal `--` (README; legacy loses the name: arv-put's 'Saved at ...')",
            legacy_check=lambda o: o.exit == 0 and o.collections[0]["name"].startswith("Saved at "),
            check=fresh_upload(image_of, OTHER, OTHER, name="--")),
        # -- output: --silent and progress ------------------------------------------------------------
        Row("silent-fresh-upload", "--silent kdtest-plain:v1", docker=(PLAIN,)),
        Row("silent-already-present", "--silent kdtest-plain:v1", docker=(PLAIN,), before=(UP_PLAIN,)),
        Row("progress", "--progress kdtest-other:v2", docker=(OTHER,)),
        Row("no-progress", "--no-progress kdtest/multi:1.0.2-rc1", docker=(MULTI,)),
        Row("batch-progress", "--batch-progress localhost:5000/kdtest/reg:edge", docker=(REG,)),
        Row("run-options-passed-to-arv-put", "--no-resume --no-cache --batch kdtest-plain:v1", docker=(PLAIN,)),
        # -- --retries forms --------------------------------------------------------------------------
        Row("retries-separate-value", "--retries 3 kdtest-plain:v1", docker=(PLAIN,)),
        Row("retries-equals-zero-present", "--retries=0 kdtest-plain:v1", docker=(PLAIN,), before=(UP_PLAIN,)),
        Row("retries-abbreviated-listing", "--retr 2 images", before=(UP_PLAIN,)),
        # -- listing ----------------------------------------------------------------------------------
        Row("list-empty", ""),
        Row("list-after-uploads", "", before=(UP_PLAIN, legacy(MULTI), legacy(MULTI_LATEST), legacy(REG))),
        Row("list-images-word", "images", before=(P, legacy(OTHER), legacy("--project-uuid {P} " + PLAIN))),
        Row("list-images-second-positional-ignored", "images kdtest-plain", before=(UP_PLAIN,)),
        Row("list-many-seeded", "", before=(seed_many(60),)),
        Row("list-hash-only-seeded", "images", before=(seed("hash-only images", seed_hash_only),)),
        Row("list-as-bob-shared-and-own", "", user="bob",
            before=(project("S"), legacy("--project-uuid {S} " + OTHER), share("S", "bob"),
                    legacy(PLAIN, user="bob"), legacy(MULTI))),
        # -- the new --source form leaves what the legacy daemon form leaves ------------------------
        Row("source-file-as-daemon-upload", "kdtest-plain:v1", ours_argv="--source={ARCHIVE} kdtest-plain:v1",
            docker=(PLAIN,)),
        Row("source-file-pair-form-into-project", "--project-uuid {P} kdtest-plain v1",
            ours_argv="--source {ARCHIVE} --project-uuid {P} kdtest-plain v1", docker=(PLAIN,), before=(P,)),
        Row("source-file-present-in-home", "kdtest-plain:v1", ours_argv="--source={ARCHIVE} kdtest-plain:v1",
            docker=(PLAIN,), before=(UP_PLAIN,)),
        # -- usage errors -------------------------------------------------------------------------------
        Row("usage-pull-and-no-pull", "--pull --no-pull kdtest-plain:v1"),
        Row("usage-ambiguous-forc", "--forc kdtest-plain:v1"),
        Row("usage-progress-modes-exclusive", "--progress --batch-progress kdtest-plain:v1"),
        Row("usage-third-positional", "kdtest-plain v1 extra"),
        Row("usage-arv-put-only-option", "--threads 2 kdtest-plain:v1"),
        Row("usage-project-uuid-missing-value", "kdtest-plain:v1 --project-uuid"),
        Row("usage-retries-not-an-integer", "--retries x kdtest-plain:v1",
            expect="differs: the --retries error names the problem in the user's words (README)",
            legacy_check=legacy_failed(2, "invalid RangedValue"),
            check=refused(USAGE + "argument --retries: invalid int value: 'x'", exit=2)),
    ]


# --------------------------------------------------------------------------
# Docker state shared by all rows (images are only read).


@pytest.fixture(scope="module")
def made_tags(docker_host):
    """The local tags rows make (Row.tagged) are removed when the module ends."""
    yield
    for name in sorted(MADE_TAGS):
        untag(name)


@pytest.fixture(scope="module")
def registry(docker_host):
    """A real docker-registry on a free port (the test bed picks it), holding
    PUSHED; its own state dir, so that no other test's registry-stop can end it."""
    state = tempfile.mkdtemp(prefix="kdtest-sbs-registry-")
    env = dict(os.environ)
    start = subprocess.run([str(TESTBED), "registry-start", "--state-dir", state],
                           env=env, capture_output=True, text=True, timeout=60)
    if start.returncode != 0:
        pytest.fail("docker-registry did not start: %s" % start.stderr)
    host = start.stdout.strip().split("=", 1)[1]
    pushed = []
    try:
        for name, source in PUSHED.items():
            target = name.format(REG=host)
            docker("tag", source, target)
            pushed.append(target)
            push = docker("push", target, check=False)
            assert push.returncode == 0, push.stderr
            untag(target)
        yield host
    finally:
        # every local name under the registry (pushed, pulled or tagged by a row)
        names = docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
        for target in set(pushed) | {n for n in names if n.startswith(host + "/")}:
            untag(target)
        subprocess.run([str(TESTBED), "registry-stop", "--state-dir", state], env=env,
                       capture_output=True, timeout=60)


# --------------------------------------------------------------------------
# The runner


def _rows():
    # The table needs image_of only inside the checks; build it with a
    # placeholder here just to know the ids.
    return scenarios(lambda ref: None)


@pytest.mark.parametrize("row_id", [r.id for r in _rows()])
def test_side_by_side(row_id, cluster, tools, image_of, made_tags, request):
    [row] = [r for r in scenarios(image_of) if r.id == row_id]
    needs_registry = "{REG}" in row.argv or any("{REG}" in n for n in (*row.tagged, *row.absent, *row.docker))
    registry = request.getfixturevalue("registry") if needs_registry else None
    plain = image_of(PLAIN)

    old = run_side("legacy", row, cluster, tools, plain, registry)
    new = run_side("ours", row, cluster, tools, plain, registry)

    if ORACLE_TWICE and row.expect != SAME:
        # legacy on both sides: both must show the legacy behaviour
        for outcome in (old, new):
            assert row.legacy_check is None or row.legacy_check(outcome) is not False, outcome.raw
    elif row.expect == SAME:
        diff = differences(old, new)
        assert not diff, "%s: %s\nargv: %s\nbefore: %s\n\n%s\n\nlegacy stderr:\n%s\nours stderr:\n%s" % (
            row.id, row.expect, row.argv, row.before, "\n".join(diff), old.raw.stderr, new.raw.stderr)
    else:
        assert row.expect.startswith("differs: ") and row.check is not None, row
        if row.legacy_check is not None:
            assert row.legacy_check(old) is not False, "legacy no longer shows the bug: %s" % old.raw
        row.check(new)
