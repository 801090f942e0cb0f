"""`arv-keepdocker` / `arv-keepdocker images`: ours prints what legacy prints.

Each scenario seeds image records straight into the simulated cluster
(collections with a one-file image manifest, `docker_image_hash` and
`docker_image_repo+tag` links with chosen owners, `created_at`, uuids and
`image_timestamp`s), then runs the pinned legacy tool and ours as the same
user and requires byte-identical stdout and the same exit status. Seeding
bypasses Keep: the sim strips the `+A` signatures without checking them.

The scenarios are the listing's hard parts (spec §9.1, §8.2, §2.4 S1):
ordering with ties and with hash-only images, the naive timestamp parse
(offsets dropped, odd ISO forms, unparseable values ranked as year 1), which
collections count as existing, who sees what, and wide values. A last test
lists 1000 images and checks that ours needs no more requests than legacy,
and that `arv-keepdocker | head -1` ends quietly with status 0.
"""

import hashlib
import subprocess

import pytest
from conftest import ERROR_LINE, OUR_BINARY, assert_no_secrets

HASH = "docker_image_hash"
RT = "docker_image_repo+tag"
NO_TS = object()  # a link without image_timestamp


def image_hash(n):
    return "sha256:" + hashlib.sha256(b"image %d" % n).hexdigest()


def image_collection(n, **attrs):
    """A collection holding image n's tar, as arv-keepdocker stores it."""
    digest = image_hash(n)[7:]
    size = 1000 + n
    md5 = hashlib.md5(digest.encode()).hexdigest()
    manifest = ". %s+%d+A%s@%08x 0:%d:sha256\\072%s.tar\n" % (md5, size, "0f" * 20, 0x7FFFFFFF, size, digest)
    coll = {"name": "Docker image %d %s" % (n, digest[:12]), "manifest_text": manifest,
            "created_at": "2024-01-01T00:00:00Z"}
    coll.update(attrs)
    return coll


def link(cls, name, head, created, ts=NO_TS, **attrs):
    rec = {"link_class": cls, "name": name, "head_uuid": head, "created_at": created,
           "properties": {} if ts is NO_TS else {"image_timestamp": ts}}
    rec.update(attrs)
    return rec


def uuid(infix, n):
    return "zzzzz-%s-%015d" % (infix, n)


def seed_images(cluster, images, extra_links=(), owner=None):
    """images: [(n, [repo:tag names], created_at, image_timestamp)] -> uuids.
    Each image gets one collection, one hash link and one link per name."""
    colls = cluster.seed(collections=[
        image_collection(n, **({"owner_uuid": owner} if owner else {})) for n, _, _, _ in images
    ])["collections"]
    links = []
    for (n, names, created, ts), coll in zip(images, colls):
        own = {"owner_uuid": owner} if owner else {}
        links.append(link(HASH, image_hash(n), coll["uuid"], created, ts, **own))
        links += [link(RT, name, coll["uuid"], created, ts, **own) for name in names]
    cluster.seed(links=links + list(extra_links))
    return [c["uuid"] for c in colls]


# --------------------------------------------------------------------------
# Scenarios: each seeds the cluster and returns (user, rows expected).


def empty(cluster):
    return "alice", 0


def one_image(cluster):
    seed_images(cluster, [(1, ["hello-world:latest"], "2024-02-01T10:00:00Z", "2023-05-02T16:49:27.123456789Z")])
    return "alice", 1


def several_tags_on_one_collection(cluster):
    [c] = seed_images(cluster, [(1, ["app:v1", "app:v2", "registry.example:5000/team/app:1.0"],
                                 "2024-02-01T10:00:00Z", "2023-05-02T16:49:27Z")])
    cluster.seed(links=[
        # the same name again, older and newer: one row, the preferred link's date
        link(RT, "app:v1", c, "2024-03-01T10:00:00Z", "2023-06-01T00:00:00Z"),
        link(RT, "app:v1", c, "2024-01-01T10:00:00Z", "2020-01-01T00:00:00Z"),
        # a second, newer hash link: its name is the IMAGE ID shown
        link(HASH, "sha256:" + "ab" * 32, c, "2024-05-01T00:00:00Z", "2024-04-01T00:00:00Z"),
    ])
    return "alice", 3


def odd_names(cluster):
    colls = cluster.seed(collections=[image_collection(n) for n in range(1, 5)])["collections"]
    c = [x["uuid"] for x in colls]
    cluster.seed(links=[
        link(RT, "justaname", c[0], "2024-01-01T00:00:01Z", "2023-01-01T00:00:00Z"),
        link(RT, "trailing:", c[0], "2024-01-01T00:00:02Z", "2023-01-02T00:00:00Z"),
        link(RT, ":onlytag", c[0], "2024-01-01T00:00:03Z", "2023-01-03T00:00:00Z"),
        link(HASH, image_hash(1), c[0], "2024-01-01T00:00:00Z", "2023-01-01T00:00:00Z"),
        # no hash link at all: IMAGE ID <unknown>
        link(RT, "nohash:latest", c[1], "2024-01-02T00:00:00Z", "2023-02-01T00:00:00Z"),
        # a short and an empty hash name
        link(RT, "short:1", c[2], "2024-01-03T00:00:00Z", "2023-03-01T00:00:00Z"),
        link(HASH, "sha256:ab", c[2], "2024-01-03T00:00:00Z"),
        link(RT, "emptyhash:1", c[3], "2024-01-04T00:00:00Z", "2023-04-01T00:00:00Z"),
        link(HASH, "", c[3], "2024-01-04T00:00:00Z"),
    ])
    return "alice", 6


def hash_only_images(cluster):
    # uuids chosen so that the collection order is the keyset order
    colls = cluster.seed(collections=[image_collection(n, uuid=uuid("4zz18", n))
                                      for n in range(1, 7)])["collections"]
    c = [x["uuid"] for x in colls]
    same_ts, same_created = "2023-07-01T00:00:00Z", "2024-01-01T00:00:00Z"
    cluster.seed(links=[
        link(HASH, image_hash(1), c[0], "2024-01-05T00:00:00Z", "2023-01-01T00:00:00Z"),
        link(RT, "tagged:latest", c[1], "2024-01-06T00:00:00Z", "2023-08-01T00:00:00Z"),
        link(HASH, image_hash(2), c[1], "2024-01-06T00:00:00Z", "2023-08-01T00:00:00Z"),
        link(HASH, image_hash(3), c[2], "2024-01-07T00:00:00Z"),  # no timestamp
        # three hash-only images that tie, and a tagged one with the same key
        link(HASH, image_hash(4), c[3], same_created, same_ts, uuid=uuid("o0j2j", 41)),
        link(HASH, image_hash(5), c[4], same_created, same_ts, uuid=uuid("o0j2j", 42)),
        link(HASH, image_hash(6), c[5], same_created, same_ts, uuid=uuid("o0j2j", 43)),
        link(RT, "tie:latest", c[1], same_created, same_ts, uuid=uuid("o0j2j", 44)),
        # c[4] also has an older hash link: it moves c[4] in legacy's dict order
        link(HASH, image_hash(5), c[4], "2023-01-01T00:00:00Z", "2000-01-01T00:00:00Z"),
    ])
    return "alice", 7


def with_and_without_image_timestamp(cluster):
    colls = cluster.seed(collections=[image_collection(n) for n in range(1, 5)])["collections"]
    c = [x["uuid"] for x in colls]
    cluster.seed(links=[
        link(RT, "old:ts", c[0], "2024-06-01T00:00:00Z", "2015-01-01T00:00:00Z"),
        link(RT, "none:1", c[1], "2024-01-01T00:00:00Z"),
        link(RT, "none:2", c[2], "2024-09-09T09:09:09.5Z"),
        link(RT, "new:ts", c[3], "2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z"),
        link(HASH, image_hash(1), c[0], "2024-06-01T00:00:00Z", "2015-01-01T00:00:00Z"),
        link(HASH, image_hash(2), c[1], "2024-01-01T00:00:00Z"),
    ])
    return "alice", 4


# image_timestamp forms: each gets its own collection and tag; ordering and
# the CREATED column show how legacy's naive parse read it.
TIMESTAMP_FORMS = [
    "2023-05-02T16:49:27+02:00",
    "2023-05-02T16:49:27-05:30",
    "2023-05-02T16:49:26.999999999Z",
    "2023-05-02T16:49:27,5",
    "2023-05-02t16:49:27z",
    "2023-05-02 16:49:27",
    "2023-05-02T16:49Z",
    "2023-05-02T17",
    "2023-05-02",
    "2023-05",
    "20230502T164927Z",
    "2023-W18-2",
    "2023W182T12:00:00",
    "2023-122",
    "2023-05-01T24:00",
    "2023-05-02T16:49:27+99:59",
    "0001-01-01T00:00:00Z",
    "0999-12-31T23:59:59Z",
    "9999-12-31T23:59:59.999999Z",
    # unparseable: ranked as year 1, shown with the link's created_at
    "yesterday",
    "",
    "2023",
    "2023-02-30T00:00:00Z",
    "2023-05-02T16:49:60Z",
    "2023-05-02T16:49:27+02:60",
    "2023-05-02T164927",
    "2023-05-02T16:49:27 UTC",
    "2023-05-02T16:49:27.Z",
]


def timestamp_forms(cluster):
    images = [(i, ["ts%02d:%s" % (i, "form")], "2024-01-01T00:00:%02dZ" % i, ts)
              for i, ts in enumerate(TIMESTAMP_FORMS)]
    seed_images(cluster, images)
    return "alice", len(TIMESTAMP_FORMS)


def equal_timestamps(cluster):
    colls = cluster.seed(collections=[image_collection(n) for n in range(1, 6)])["collections"]
    c = [x["uuid"] for x in colls]
    ts, created = "2023-03-03T03:03:03Z", "2024-04-04T04:04:04Z"
    # inserted in an order unlike uuid order; ties keep created_at, uuid order
    cluster.seed(links=[
        link(RT, "tie:c", c[2], created, ts, uuid=uuid("o0j2j", 3)),
        link(RT, "tie:a", c[0], created, ts, uuid=uuid("o0j2j", 1)),
        link(RT, "tie:e", c[4], created, ts, uuid=uuid("o0j2j", 5)),
        link(RT, "tie:b", c[1], created, ts, uuid=uuid("o0j2j", 2)),
        link(RT, "tie:d", c[3], created, ts, uuid=uuid("o0j2j", 4)),
        # same image timestamp, different link times: the newer link first
        link(RT, "tie:newer", c[0], "2024-05-05T00:00:00Z", ts, uuid=uuid("o0j2j", 6)),
        # an offset that hides a different instant: equal after the naive parse
        link(RT, "tie:offset", c[1], created, "2023-03-03T03:03:03+05:00", uuid=uuid("o0j2j", 7)),
        link(HASH, image_hash(1), c[0], created, ts),
        link(HASH, image_hash(2), c[1], created, ts),
    ])
    return "alice", 7


def gone_and_unreadable_collections(cluster):
    live, trashed = cluster.seed(collections=[
        image_collection(1),
        image_collection(2, trash_at="2020-01-01T00:00:00Z"),
    ])["collections"]
    [bobs] = cluster.seed(collections=[image_collection(3, owner_uuid="bob")])["collections"]
    cluster.seed(links=[
        link(RT, "live:1", live["uuid"], "2024-01-01T00:00:00Z", "2023-01-01T00:00:00Z"),
        link(HASH, image_hash(1), live["uuid"], "2024-01-01T00:00:00Z", "2023-01-01T00:00:00Z"),
        link(RT, "trashed:1", trashed["uuid"], "2024-01-02T00:00:00Z", "2023-01-02T00:00:00Z"),
        link(HASH, image_hash(2), trashed["uuid"], "2024-01-02T00:00:00Z"),
        link(RT, "deleted:1", uuid("4zz18", 999), "2024-01-03T00:00:00Z", "2023-01-03T00:00:00Z"),
        link(HASH, image_hash(9), uuid("4zz18", 998), "2024-01-03T00:00:00Z"),
        # alice's links on bob's private collection: she cannot read it
        link(RT, "bobs:1", bobs["uuid"], "2024-01-04T00:00:00Z", "2023-01-04T00:00:00Z"),
    ])
    return "alice", 1


def shared_project(cluster):
    project = cluster.create_project("bob", "Team images")["uuid"]
    cluster.share(project, "alice", "can_read")
    seed_images(cluster, [(1, ["team/app:2.0"], "2024-02-02T00:00:00Z", "2023-09-09T09:09:09Z"),
                          (2, [], "2024-02-03T00:00:00Z", "2023-09-10T00:00:00Z")], owner=project)
    # bob's own, unshared
    seed_images(cluster, [(3, ["private:1"], "2024-02-04T00:00:00Z", "2023-09-11T00:00:00Z")], owner="bob")
    seed_images(cluster, [(4, ["mine:1"], "2024-02-05T00:00:00Z", "2023-09-12T00:00:00Z")])
    return "alice", 3


def bob_sees_only_his(cluster):
    seed_images(cluster, [(1, ["alices:1"], "2024-02-02T00:00:00Z", "2023-09-09T09:09:09Z")])
    seed_images(cluster, [(2, ["bobs:1", "bobs:2"], "2024-02-03T00:00:00Z", "2023-01-01T00:00:00Z"),
                          (3, [], "2024-02-04T00:00:00Z", "2022-01-01T00:00:00Z")], owner="bob")
    return "bob", 3


def long_values(cluster):
    seed_images(cluster, [
        (1, ["registry.internal.example.com:5000/bioinformatics/pipelines/gatk:4.5.0.0-with-extras"],
         "2024-01-01T00:00:00Z", "2023-01-01T00:00:00Z"),
        (2, ["exactly-thirty-characters-xyz:exactlyten"], "2024-01-02T00:00:00Z", "2023-01-02T00:00:00Z"),
        (3, ["répertoire/ünïcode-näme-with-accents:ταγ"], "2024-01-03T00:00:00Z", "2023-01-03T00:00:00Z"),
    ])
    return "alice", 3


SCENARIOS = [
    empty,
    one_image,
    several_tags_on_one_collection,
    odd_names,
    hash_only_images,
    with_and_without_image_timestamp,
    timestamp_forms,
    equal_timestamps,
    gone_and_unreadable_collections,
    shared_project,
    bob_sees_only_his,
    long_values,
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.__name__ for s in SCENARIOS])
@pytest.mark.parametrize("argv", [[], ["images"]], ids=["no-args", "images"])
def test_listing_matches_legacy(cluster, tools, scenario, argv):
    user, rows = scenario(cluster)

    legacy = tools.legacy(*argv, user=user)
    ours = tools.ours(*argv, user=user)

    assert legacy.returncode == 0, legacy
    assert ours.stdout == legacy.stdout, "legacy:\n%s\nours:\n%s" % (legacy.stdout, ours.stdout)
    assert ours.returncode == 0 and ours.stderr == "", ours
    lines = ours.stdout.splitlines(True)
    assert lines[0] == ("REPOSITORY" + " " * 22 + "TAG" + " " * 9 + "IMAGE ID" + " " * 6
                        + "COLLECTION" + " " * 21 + "CREATED" + " " * 13 + "\n")
    assert len(lines) - 1 == rows


def test_a_tag_after_images_is_ignored(cluster, tools):
    seed_images(cluster, [(1, ["app:v1"], "2024-01-01T00:00:00Z", "2023-01-01T00:00:00Z")])

    legacy = tools.legacy("images", "v1")
    ours = tools.ours("images", "v1")

    assert legacy.returncode == 0 and len(legacy.stdout.splitlines()) == 2, legacy
    assert (ours.stdout, ours.returncode, ours.stderr) == (legacy.stdout, 0, "")


# --------------------------------------------------------------------------
# Records legacy cannot list: it prints the header, then a traceback, status 1.


def null_image_timestamp(cluster):
    seed_images(cluster, [(1, ["ok:1"], "2024-01-01T00:00:00Z", "2023-01-01T00:00:00Z"),
                          (2, ["bad:1"], "2024-01-02T00:00:00Z", None)])


def null_properties(cluster):
    [c] = seed_images(cluster, [(1, ["ok:1"], "2024-01-01T00:00:00Z", "2023-01-01T00:00:00Z")])
    cluster.seed(links=[link(HASH, image_hash(1), c, "2024-01-02T00:00:00Z", properties=None)])


def midnight_after_9999(cluster):
    seed_images(cluster, [(1, ["late:1"], "2024-01-01T00:00:00Z", "9999-12-31T24:00")])


BROKEN = [null_image_timestamp, null_properties, midnight_after_9999]


@pytest.mark.parametrize("scenario", BROKEN, ids=[s.__name__ for s in BROKEN])
def test_records_legacy_cannot_list(cluster, tools, scenario):
    scenario(cluster)

    legacy = tools.legacy()
    ours = tools.ours()

    assert legacy.returncode == 1 and "Traceback" in legacy.stderr, legacy
    assert ours.stdout == legacy.stdout
    assert ours.returncode == 1 and ERROR_LINE.match(ours.stderr.splitlines()[-1]), ours


FAILURES = {
    # legacy gets through discovery and `config` (no token needed), prints
    # the header, then fails on the first listing
    "bad_token": {"ARVADOS_API_TOKEN": "v2/zzzzz-gj3su-000000000000000/notthetoken"},
    # legacy fails while connecting, before the header
    "unreachable": {"ARVADOS_API_HOST": "127.0.0.1:1"},
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_failing_cluster_same_stdout_and_status(cluster, tools, failure):
    seed_images(cluster, [(1, ["ok:1"], "2024-01-01T00:00:00Z", "2023-01-01T00:00:00Z")])

    legacy = tools.legacy("--retries", "0", extra_env=FAILURES[failure])
    ours = tools.ours("--retries", "0", extra_env=FAILURES[failure])

    assert legacy.returncode == 1, legacy
    assert ours.stdout == legacy.stdout
    assert ours.returncode == 1 and ERROR_LINE.match(ours.stderr.splitlines()[-1]), ours


# --------------------------------------------------------------------------
# 1000 images


def api_requests(cluster):
    return [e for e in cluster.log() if e["server"] == "api"]


def test_thousand_images_same_output_fewer_requests_and_quiet_epipe(cluster, tools):
    images = [(n, ["bulk/image-%04d:v%d" % (n, n % 3)],
               "2024-01-01T00:%02d:%02dZ" % (n // 60, n % 60),
               "2023-%02d-%02dT12:00:00.%06dZ" % (n % 12 + 1, n % 28 + 1, n)) for n in range(1000)]
    # a few hash-only images, sharing one image_timestamp
    images[::97] = [(n, [], c, "2023-06-15T00:00:00Z") for n, _, c, _ in images[::97]]
    seed_images(cluster, images)

    cluster.clear_log()
    legacy = tools.legacy()
    legacy_requests = api_requests(cluster)
    cluster.clear_log()
    ours = tools.ours()
    our_requests = api_requests(cluster)

    assert legacy.returncode == 0, legacy
    assert ours.stdout == legacy.stdout
    assert ours.returncode == 0 and ours.stderr == ""
    assert len(ours.stdout.splitlines()) == 1001
    print("\n1000 images: legacy %d API requests, ours %d" % (len(legacy_requests), len(our_requests)))
    assert len(our_requests) <= len(legacy_requests)

    # `arv-keepdocker | head -1`: the reader goes away after one line.
    proc = subprocess.Popen([str(OUR_BINARY)], env=tools.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    proc.stdout.close()
    stderr = proc.stderr.read()
    status = proc.wait(timeout=60)
    assert_no_secrets(cluster, (first + stderr).decode("utf-8", "replace"))
    assert status == 0
    assert stderr == b""
    assert first.decode() == legacy.stdout.splitlines(True)[0]

    # the same through a shell pipe
    piped = subprocess.run(["bash", "-c", '"$0" | head -1; exit "${PIPESTATUS[0]}"', str(OUR_BINARY)],
                           env=tools.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert_no_secrets(cluster, (piped.stdout + piped.stderr).decode("utf-8", "replace"))
    assert piped.returncode == 0
    assert piped.stdout.decode() == legacy.stdout.splitlines(True)[0]
    assert piped.stderr == b""
