"""The simulated cluster is proven with the legacy tool itself.

The pinned Python `arv-keepdocker` (the oracle) uploads real images from the
real Docker daemon to the simulated cluster. Each test checks what a user and
the cluster would check: the collection's manifest and portable data hash
(computed here from `docker save` output, independently of the simulation),
the links and their properties, what `arv-get` reads back, what the listing
prints, what the server's image resolution finds, and that the API calls the
legacy tool makes are the ones the spec (§2.4) and the recorded traces
describe. If the simulation computed a wrong portable data hash, accepted an
unsigned locator or ignored a filter, a test here fails.
"""

import calendar
import time

import pytest
from calls import api_calls, keep_calls, keyset, strip_discovery
from conftest import LEGACY_BIN, expected_name, one_file_manifest, pdh_of

PLAIN = "kdtest-plain:v1"
LEGACY_PYTHON = LEGACY_BIN / "python"

RT = "RT"
HASH = "HASH"


def collections(dump):
    return [c for c in dump["collections"] if not c.get("is_trashed")]


def links(dump, link_class=None):
    return [
        l
        for l in dump["links"]
        if l["link_class"] in ("docker_image_hash", "docker_image_repo+tag")
        and (link_class is None or l["link_class"] == link_class)
    ]


def ctime(timestamp):
    """Legacy listing's CREATED column: naive parse, C-locale %c (spec §9.1)."""
    base = timestamp.rstrip("Z").split(".")[0].split("+")[0]
    parsed = time.strptime(base, "%Y-%m-%dT%H:%M:%S")
    return time.strftime("%a %b %e %H:%M:%S %Y", parsed)


def listing_row(repo, tag, image_id, uuid, created):
    return "%-30s  %-10s  %-12s  %-29s  %-20s\n" % (repo, tag, image_id[:12], uuid, created)


LISTING_HEADER = listing_row("REPOSITORY", "TAG", "IMAGE ID", "COLLECTION", "CREATED")


def existing_image_calls(image_id, home):
    """Legacy's read-only calls for kdtest-plain:v1 when one upload of it
    exists (spec §2.4 S2 then S4; trace B). `users.current` is made only
    when no --project-uuid names the parent (trace C leaves it out)."""
    return (
        ["config"]
        + keyset("links.list[RT name = kdtest-plain:v1]", 1)
        + keyset("links.list[HASH head_uuid in[1]]", 1)
        + keyset("collections.list[uuid in[1]]", 1)
        + (["users.current"] if home else [])
        + keyset("links.list[HASH name = %s]" % image_id, 1)
        + ["collections.list[uuid in[1]]"]
        + keyset("links.list[RT head_uuid in[1] name = kdtest-plain:v1]", 1)
    )


def upload(tools, *args, **kw):
    result = tools.legacy(*args, **kw)
    assert result.returncode == 0, result
    return result


# --------------------------------------------------------------------------


def test_first_upload_makes_the_collection_and_links_the_spec_describes(cluster, tools, image_of):
    image = image_of(PLAIN)
    cluster.clear_log()

    result = upload(tools, "kdtest-plain", "v1")

    dump = cluster.dump()
    [coll] = collections(dump)
    assert result.stdout == coll["uuid"] + "\n"
    alice = cluster.user("alice")["uuid"]

    # The collection: one file named <id>.tar holding exactly `docker save <id>`.
    manifest = one_file_manifest(image.archive, image.id + ".tar")
    assert coll["manifest_text"] == manifest
    assert coll["portable_data_hash"] == pdh_of(manifest)
    assert coll["name"] == expected_name(PLAIN, image.id)
    assert coll["owner_uuid"] == alice
    assert coll["properties"] == {"docker-image-repo-tag": PLAIN}

    # The two links, owned by the caller, carrying the config's timestamp.
    [hash_link] = links(dump, "docker_image_hash")
    [tag_link] = links(dump, "docker_image_repo+tag")
    for link, name in ((hash_link, image.id), (tag_link, PLAIN)):
        assert link["name"] == name
        assert link["head_uuid"] == coll["uuid"]
        assert link["owner_uuid"] == alice
        assert link["properties"] == {"image_timestamp": image.created}
        assert link["tail_uuid"] is None

    # The request sequence of spec §2.4 S3 / recorded trace A.
    hash_name = "HASH name = %s" % image.id
    assert strip_discovery(api_calls(cluster.log())) == [
        "config",
        "links.list[RT name = kdtest-plain:v1]",
        "links.list[HASH name ilike kdtest-plain%]",
        "links.list[RT head_uuid in[0]]",
        "collections.list[uuid in[0]]",
        "users.current",
        "links.list[%s]" % hash_name,
        "config",
        "users.current",
        "keep_services.accessible",
        "collections.create",
        "collections.get",
        "collections.update",
        "links.create",
        "links.create",
    ]
    puts = keep_calls(cluster.log())
    blocks = len(image.archive) // (64 << 20) + 1
    assert [p["method"] for p in puts] == ["PUT"] * (2 * blocks)
    assert {p.get("desired_replicas") for p in puts} == {"2"}


def test_arv_get_reads_back_what_docker_saved(cluster, tools, image_of, tmp_path):
    image = image_of(PLAIN)
    uuid = upload(tools, PLAIN).stdout.strip()

    out = tmp_path / "out"
    out.mkdir()
    got = tools.legacy(uuid + "/", str(out), tool="arv-get")
    assert got.returncode == 0, got
    assert (out / (image.id + ".tar")).read_bytes() == image.archive


def test_server_resolution_finds_the_upload_by_name_and_by_id(cluster, tools, image_of):
    image = image_of(PLAIN)
    upload(tools, PLAIN)
    [coll] = collections(cluster.dump())

    assert cluster.resolve(PLAIN)["pdh"] == coll["portable_data_hash"]
    assert cluster.resolve("kdtest-plain", tag="v1")["pdh"] == coll["portable_data_hash"]
    assert cluster.resolve(image.id)["pdh"] == coll["portable_data_hash"]
    assert cluster.resolve(coll["portable_data_hash"])["pdh"] == coll["portable_data_hash"]
    # A name nobody uploaded is not found, and bob cannot see alice's image.
    assert "error" in cluster.resolve("kdtest-plain:v2")
    assert "error" in cluster.resolve(PLAIN, user="bob")


def test_listing_shows_the_upload(cluster, tools, image_of):
    image = image_of(PLAIN)
    uuid = upload(tools, PLAIN).stdout.strip()
    cluster.clear_log()

    listing = tools.legacy("images")

    assert listing.returncode == 0, listing
    assert listing.stdout == LISTING_HEADER + listing_row(
        "kdtest-plain", "v1", image.id, uuid, ctime(image.created)
    )
    # Spec §2.4 S1 / trace E: three keyset listings, one row each.
    assert strip_discovery(api_calls(cluster.log())) == (
        ["config"]
        + keyset("links.list[HASH]", 1)
        + keyset("links.list[RT]", 1)
        + keyset("collections.list[uuid in[1]]", 1)
    )


def test_rerun_finds_the_image_and_writes_nothing(cluster, tools, image_of):
    image = image_of(PLAIN)
    uuid = upload(tools, PLAIN).stdout.strip()
    before = cluster.dump()
    cluster.clear_log()

    again = upload(tools, PLAIN)

    assert again.stdout == uuid + "\n"
    assert cluster.dump() == before
    log = cluster.log()
    assert keep_calls(log) == []
    # Trace B: 18 read-only calls (discovery comes from the client's cache).
    assert api_calls(log) == existing_image_calls(image.id, home=True)


def test_project_uuid_copies_without_moving_bytes(cluster, tools, image_of):
    image = image_of(PLAIN)
    upload(tools, PLAIN)
    [original] = collections(cluster.dump())
    alice = cluster.user("alice")["uuid"]
    project = cluster.create_project(alice, "workflows")["uuid"]
    cluster.clear_log()

    copied = upload(tools, "--project-uuid", project, PLAIN)

    dump = cluster.dump()
    [copy] = [c for c in collections(dump) if c["owner_uuid"] == project]
    assert copied.stdout == copy["uuid"] + "\n"
    assert copy["portable_data_hash"] == original["portable_data_hash"]
    assert copy["name"] == original["name"]
    assert copy["properties"] == {"docker-image-repo-tag": PLAIN}
    project_links = [l for l in links(dump) if l["owner_uuid"] == project]
    assert sorted((l["link_class"], l["name"], l["head_uuid"]) for l in project_links) == [
        ("docker_image_hash", image.id, copy["uuid"]),
        ("docker_image_repo+tag", PLAIN, copy["uuid"]),
    ]
    assert all(l["properties"] == {"image_timestamp": image.created} for l in project_links)
    log = cluster.log()
    assert keep_calls(log) == []
    # Trace C: as B without users.current, then the copy and two links.
    assert api_calls(log) == existing_image_calls(image.id, home=False) + [
        "collections.create",
        "links.create",
        "links.create",
    ]

    # Repeating it finds everything owned by the project and writes nothing.
    before = cluster.dump()
    cluster.clear_log()
    again = upload(tools, "--project-uuid", project, PLAIN)
    assert again.stdout == copy["uuid"] + "\n"
    assert cluster.dump() == before
    assert len(api_calls(cluster.log())) == 12


def test_force_uploads_again_under_a_renamed_collection(cluster, tools, image_of):
    image = image_of(PLAIN)
    first = upload(tools, PLAIN).stdout.strip()

    forced = upload(tools, "--force", PLAIN)

    dump = cluster.dump()
    colls = {c["uuid"]: c for c in collections(dump)}
    second = forced.stdout.strip()
    assert set(colls) == {first, second}
    assert colls[second]["portable_data_hash"] == colls[first]["portable_data_hash"]
    # ensure_unique_name: the server appends the last 15 chars of the uuid.
    assert colls[second]["name"] == "%s (%s)" % (expected_name(PLAIN, image.id), second[-15:])
    assert sorted(l["head_uuid"] for l in links(dump, "docker_image_hash")) == sorted([first, second])
    assert sorted(l["head_uuid"] for l in links(dump, "docker_image_repo+tag")) == sorted([first, second])

    listing = tools.legacy("images")
    assert listing.stdout.count("kdtest-plain ") == 2


def test_second_user_cannot_see_the_first_users_images(cluster, tools, image_of):
    image = image_of(PLAIN)
    alices = upload(tools, PLAIN).stdout.strip()

    bob_listing = tools.legacy("images", user="bob", home="bob")
    assert bob_listing.returncode == 0, bob_listing
    assert bob_listing.stdout == LISTING_HEADER

    # bob's run of the same image cannot reuse alice's: it uploads its own.
    bobs = upload(tools, PLAIN, user="bob", home="bob").stdout.strip()
    assert bobs != alices
    dump = cluster.dump()
    owners = {c["uuid"]: c["owner_uuid"] for c in collections(dump)}
    assert owners == {alices: cluster.user("alice")["uuid"], bobs: cluster.user("bob")["uuid"]}
    assert cluster.resolve(PLAIN, user="bob")["uuid"] == bobs
    assert cluster.resolve(PLAIN, user="alice")["uuid"] == alices


def test_image_in_a_shared_project_is_copied_home(cluster, tools, image_of):
    """Spec §11.3: an image visible only through a shared project is copied
    into the caller's home project, with new links, and no bytes move."""
    upload(tools, PLAIN)
    alice = cluster.user("alice")["uuid"]
    bob = cluster.user("bob")["uuid"]
    shared = cluster.create_project(alice, "shared")["uuid"]
    upload(tools, "--project-uuid", shared, PLAIN)
    cluster.share(shared, bob, "can_read")
    cluster.clear_log()

    bobs = upload(tools, PLAIN, user="bob", home="bob").stdout.strip()

    dump = cluster.dump()
    [copy] = [c for c in collections(dump) if c["uuid"] == bobs]
    assert copy["owner_uuid"] == bob
    assert keep_calls(cluster.log()) == []
    assert {(l["link_class"], l["owner_uuid"]) for l in links(dump) if l["head_uuid"] == bobs} == {
        ("docker_image_hash", bob),
        ("docker_image_repo+tag", bob),
    }


@pytest.mark.parametrize("formats", [[], ["v1"]])
def test_format_check_refuses_with_the_legacy_messages(cluster, tools, image_of, formats):
    image_of(PLAIN)
    cluster.reset(docker_image_formats=formats)

    refused = tools.legacy(PLAIN)

    assert refused.returncode == 1
    assert refused.stdout == ""
    assert "refusing to store incompatible format (use --force-image-format to override)" in refused.stderr
    if formats:
        assert "image format is 'v2' but server supports only ['v1']" in refused.stderr
    else:
        assert "server does not specify supported image formats" in refused.stderr
    assert collections(cluster.dump()) == []

    forced = tools.legacy("--force-image-format", PLAIN)
    assert forced.returncode == 0, forced
    assert "forcing incompatible image" in forced.stderr
    assert len(collections(cluster.dump())) == 1


def test_timestamps_have_the_real_server_format(cluster, tools, image_of):
    upload(tools, PLAIN)
    [coll] = collections(cluster.dump())
    for field in ("created_at", "modified_at"):
        # e.g. 2026-11-29T02:21:33.123456789Z
        value = coll[field]
        assert len(value) == 30 and value.endswith("Z") and value[19] == ".", value
        calendar.timegm(time.strptime(value[:19], "%Y-%m-%dT%H:%M:%S"))


def test_two_images_each_found_by_its_own_name_and_hash(cluster, tools, image_of):
    """With two images present, a filter the cluster ignored would hand the
    legacy tool the other image's links: each rerun must find its own."""
    plain, other = image_of(PLAIN), image_of("kdtest-other:v2")
    first = upload(tools, PLAIN).stdout.strip()
    second = upload(tools, "kdtest-other:v2").stdout.strip()
    assert first != second
    before = cluster.dump()

    assert upload(tools, PLAIN).stdout == first + "\n"
    assert upload(tools, "kdtest-other", "v2").stdout == second + "\n"
    assert cluster.dump() == before

    assert cluster.resolve(PLAIN)["uuid"] == first
    assert cluster.resolve("kdtest-other:v2")["uuid"] == second
    # Listing: most recent image_timestamp first (spec §8.2).
    rows = sorted(
        [(plain.created, listing_row("kdtest-plain", "v1", plain.id, first, ctime(plain.created))),
         (other.created, listing_row("kdtest-other", "v2", other.id, second, ctime(other.created)))],
        reverse=True,
    )
    assert tools.legacy().stdout == LISTING_HEADER + "".join(row for _, row in rows)


SDK_CREATE = """
import sys, arvados
api = arvados.api("v1", num_retries=0)
try:
    got = api.collections().create(body={"manifest_text": sys.argv[1]}).execute()
except arvados.errors.ApiError as err:
    print(err.resp.status)
else:
    print(got["portable_data_hash"])
"""


@pytest.mark.parametrize(
    "signer, expected",
    [
        ("alice", "83367e8913dcec0bf3fc25ed5a27eacb+49"),  # spec §6.3 example 1
        ("bob", "403"),
        ("unsigned", "403"),
        ("expired", "403"),
    ],
)
def test_collection_create_checks_locator_signatures(cluster, tools, signer, expected):
    """The legacy SDK's own create call: only locators signed for the caller
    are accepted (spec §6.2), and the PDH is the spec's."""
    locator = "acbd18db4cc2f85cedef654fccc4a4d8+3"
    if signer in ("alice", "bob"):
        locator = cluster.sign(locator, user=signer)
    elif signer == "expired":
        locator = cluster.sign(locator, user="alice", expires_at=int(time.time()) - 60)
    manifest = ". %s 0:3:foo.txt\n" % locator

    result = tools.run([LEGACY_PYTHON, "-c", SDK_CREATE, manifest])

    assert result.returncode == 0, result
    assert result.stdout.strip() == expected
