"""Tests of the simulated Arvados cluster itself (compat-tests/simarv).

Each test checks an outcome a client of the real cluster would see: status
codes and error bodies, which records a listing returns, what the legacy
Python SDK and the legacy arv-put/arv-get do against the simulation. The
portable data hashes and locators expected here are computed in this file
from the spec (§5.1, §6), not with the simulation's own code.

Run: target/legacy-venv/bin/python -m pytest compat-tests/tests/test_simarv.py -q
"""

import hashlib
import http.client
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from simarv.client import SimCluster  # noqa: E402

LEGACY_BIN = Path(sys.executable).parent
BLOCK = 64 * 1024 * 1024
EMPTY = "d41d8cd98f00b204e9800998ecf8427e+0"
DOCKER_NAME = "sha256:d2c94e258dcb3c5ac2798d32e1249e42ef01cba4841c2234249495f87264ac5a.tar"


# --- reference computations from the spec -------------------------------------------------

def locators(data):
    if not data:
        return [EMPTY]
    return ["%s+%d" % (hashlib.md5(data[i:i + BLOCK]).hexdigest(), len(data[i:i + BLOCK]))
            for i in range(0, len(data), BLOCK)]


def escape(name):
    return "".join("\\%03o" % ord(c) if c in "\\:" or ord(c) <= 32 else c for c in name)


def spec_pdh(manifest):
    """§6.2: locators reduced to hash+size, md5 of the text + "+" + length."""
    lines = []
    for line in manifest.splitlines():
        toks = line.split(" ")
        out = [toks[0]] + [("+".join(t.split("+")[:2]) if len(t) > 33 and t[32] == "+" else t) for t in toks[1:]]
        lines.append(" ".join(out).rstrip() + "\n")
    text = "".join(lines).encode()
    return "%s+%d" % (hashlib.md5(text).hexdigest(), len(text))


# --- fixtures ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    cluster = SimCluster.start(state_dir=str(tmp_path_factory.mktemp("simarv")))
    yield cluster
    cluster.stop()
    assert "Traceback" not in cluster.stderr(), cluster.stderr()


@pytest.fixture
def cluster(sim):
    sim.reset()
    return sim


def api_client(cluster, user="alice"):
    import arvados
    return arvados.api("v1", host=cluster.api_host, token=cluster.token(user), insecure=True,
                       cache=False, num_retries=0)


def list_(cluster, resource, user="alice", **params):
    q = {k: (json.dumps(v) if not isinstance(v, str) else v) for k, v in params.items()}
    status, body, _ = cluster.request("GET", "/arvados/v1/%s?%s" % (resource, urlencode(q)), user=user)
    assert status == 200, body
    return body


def signed(cluster, data, user="alice"):
    """Store `data` in Keep (keep0) and return the signed locator."""
    return keep_put(cluster, "keep0", data, user=user)[1].strip()


def unsigned(manifest_text):
    """The manifest with the +A permission hints taken out of its locators."""
    return re.sub(r"\+A[^+\s]*", "", manifest_text)


def keep_service(cluster, name):
    return next(k for k in cluster.keep_services() if k["name"] == name)


def keep_put(cluster, name, data, path_hash=None, user="alice", headers=None, expect=False):
    ks = keep_service(cluster, name)
    conn = http.client.HTTPConnection("127.0.0.1", ks["port"], timeout=30)
    hdrs = {"Authorization": "Bearer " + cluster.token(user), "Content-Length": str(len(data))}
    hdrs.update(headers or {})
    conn.request("PUT", "/" + (path_hash or hashlib.md5(data).hexdigest()), body=data, headers=hdrs)
    resp = conn.getresponse()
    out = resp.status, resp.read().decode(), dict(resp.headers)
    conn.close()
    return out


def keep_get(cluster, name, locator, token=None, method="GET"):
    ks = keep_service(cluster, name)
    conn = http.client.HTTPConnection("127.0.0.1", ks["port"], timeout=30)
    hdrs = {} if token == "" else {"Authorization": "Bearer " + (token or cluster.token("alice"))}
    conn.request(method, "/" + locator, headers=hdrs)
    resp = conn.getresponse()
    out = resp.status, resp.read()
    conn.close()
    return out


# --- discovery, config, transport ----------------------------------------------------------------

def test_discovery_document_drives_the_legacy_sdk(cluster):
    api = api_client(cluster)
    assert api._rootDesc["dockerImageFormats"] == ["v2"]
    assert api._rootDesc["defaultCollectionReplication"] == 2
    assert api._rootDesc["rootUrl"] == "https://%s/" % cluster.api_host
    assert api.users().current().execute()["uuid"] == cluster.user("alice")["uuid"]
    assert api.config()["StorageClasses"] == {"default": {"Default": True, "Priority": 0}}
    services = api.keep_services().accessible().execute()["items"]
    assert sorted(s["service_type"] for s in services) == ["disk", "disk"]
    paths = [e["path"] for e in cluster.log(server="api")]
    assert "/discovery/v1/apis/arvados/v1/rest" in paths and "/arvados/v1/config" in paths

    status, _, headers = cluster.request("GET", "/discovery/v1/apis/arvados/v1/rest", token="")
    assert status == 200 and headers["Cache-Control"] == "max-age=86400, public"

    # Config changes show up in the discovery document.
    cluster.reset(docker_image_formats=None, default_replication=3)
    _, doc, _ = cluster.request("GET", "/discovery/v1/apis/arvados/v1/rest", token="")
    assert "dockerImageFormats" not in doc and doc["defaultCollectionReplication"] == 3
    cluster.reset(docker_image_formats=[])
    _, doc, _ = cluster.request("GET", "/discovery/v1/apis/arvados/v1/rest", token="")
    assert doc["dockerImageFormats"] == []


def test_not_logged_in_error_body(cluster):
    for token in ("v2/zzzzz-gj3su-000000000000001/wrongsecret", "nonsense", ""):
        status, body, headers = cluster.request("GET", "/arvados/v1/users/current", token=token,
                                                headers={"X-Request-Id": "req-abcdefghij0123456789"})
        assert status == 401
        [msg] = body["errors"]
        assert msg.endswith("401 Unauthorized: Not logged in (req-abcdefghij0123456789)"), msg
        assert headers["X-Request-Id"] == "req-abcdefghij0123456789"
    # The bare secret of a v2 token is accepted, as on a real cluster.
    status, body, _ = cluster.request("GET", "/arvados/v1/users/current", token=cluster.user("bob")["secret"])
    assert status == 200 and body["uuid"] == cluster.user("bob")["uuid"]
    # Rails' own body shape on request.
    cluster.reset(error_format="rails")
    status, body, _ = cluster.request("GET", "/arvados/v1/collections/zzzzz-4zz18-000000000000000", token="x")
    assert status == 401 and body["errors"][0].startswith("Not logged in (req-")
    assert body["error_token"].split("+")[0].isdigit()


def test_long_get_as_post(cluster):
    made = [cluster.request("POST", "/arvados/v1/collections", {"name": "c%d" % i})[1]["uuid"] for i in range(3)]
    filters = json.dumps([["uuid", "in", made[:2]]])
    body = urlencode({"filters": filters, "select": json.dumps(["uuid", "name"])}).encode()
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    status, out, _ = cluster.request("POST", "/arvados/v1/collections", body=body,
                                     headers=dict(form, **{"X-HTTP-Method-Override": "GET"}))
    assert status == 200 and sorted(i["uuid"] for i in out["items"]) == sorted(made[:2])
    status, out, _ = cluster.request("POST", "/arvados/v1/collections",
                                     body=body + b"&_method=GET", headers=form)
    assert status == 200 and out["items_available"] == 2

    # The legacy SDK switches to POST by itself for URLs over 2048 chars.
    many = made + ["zzzzz-4zz18-%015d" % i for i in range(100)]
    got = api_client(cluster).collections().list(filters=[["uuid", "in", many]], select=["uuid"]).execute()
    assert sorted(i["uuid"] for i in got["items"]) == sorted(made)
    last = [e for e in cluster.log(server="api") if e["path"] == "/arvados/v1/collections"][-1]
    assert (last["http_method"], last["method"]) == ("POST", "GET")


# --- manifests, signatures, portable data hash ----------------------------------------------------

def test_portable_data_hash_matches_the_spec_examples(cluster):
    from simarv import manifest
    foo = ". acbd18db4cc2f85cedef654fccc4a4d8+3 0:3:foo.txt\n"
    assert manifest.portable_data_hash(foo) == "83367e8913dcec0bf3fc25ed5a27eacb+49"
    docker = ". b1946ac92492d2347c6235b4d2611184+6 0:6:%s\n" % escape(DOCKER_NAME)
    assert manifest.portable_data_hash(docker) == "f9e43acc9ea29a42c37eb64aa839c5a0+120"
    two = ". 7f614da9329cd3aebf59b91aadc30bf0+67108864 5d41402abc4b2a76b9719d911017c592+5 0:67108869:%s\n" % (
        escape(DOCKER_NAME))
    assert manifest.portable_data_hash(two) == "fd11ced60fef4dda24083623ea817d51+169"

    # Through the API: a signed manifest gets the same PDH, is stored
    # unsigned and comes back signed for the caller.
    loc = signed(cluster, b"hello\n")
    assert loc.startswith("b1946ac92492d2347c6235b4d2611184+6+A")
    text = ". %s 0:6:%s\n" % (loc, escape(DOCKER_NAME))
    status, coll, _ = cluster.request("POST", "/arvados/v1/collections", {"manifest_text": text})
    assert status == 200, coll
    assert coll["portable_data_hash"] == "f9e43acc9ea29a42c37eb64aa839c5a0+120" == spec_pdh(text)
    assert coll["manifest_text"].startswith(". b1946ac92492d2347c6235b4d2611184+6+A")
    [stored] = cluster.dump()["collections"]
    assert stored["manifest_text"] == docker
    assert (coll["file_count"], coll["file_size_total"]) == (1, 6)


def test_create_refuses_locators_not_signed_for_the_caller(cluster):
    data = b"foo"
    alice_loc = signed(cluster, data, user="alice")
    bob_loc = signed(cluster, data, user="bob")
    bare = "acbd18db4cc2f85cedef654fccc4a4d8+3"
    expired = cluster.sign(bare, user="alice", expires_at=int(time.time()) - 10)
    forged = alice_loc[:-12] + ("0" if alice_loc[-12] != "0" else "1") + alice_loc[-11:]
    for loc in (bare, bob_loc, expired, forged):
        status, body, _ = cluster.request("POST", "/arvados/v1/collections",
                                          {"manifest_text": ". %s 0:3:foo.txt\n" % loc})
        assert status == 403, (loc, body)
        assert "PermissionDeniedError" in body["errors"][0] and "(req-" in body["errors"][0]
    status, body, _ = cluster.request("POST", "/arvados/v1/collections",
                                      {"manifest_text": ". %s 0:3:foo.txt\n" % alice_loc})
    assert status == 200 and body["portable_data_hash"] == "83367e8913dcec0bf3fc25ed5a27eacb+49"
    # The empty block needs no signature; a malformed manifest is a 422.
    status, body, _ = cluster.request("POST", "/arvados/v1/collections",
                                      {"collection": {"manifest_text": ". %s 0:0:empty\n" % EMPTY}})
    assert status == 200 and body["file_count"] == 1
    status, body, _ = cluster.request("POST", "/arvados/v1/collections", {"manifest_text": ". 0:0:x"})
    assert status == 422 and "does not end with newline" in body["errors"][0]
    # bob can read alice's collection only once shared, and then gets his own signatures.
    uuid = cluster.dump()["collections"][0]["uuid"]
    assert cluster.request("GET", "/arvados/v1/collections/" + uuid, user="bob")[0] == 404
    cluster.share(uuid, "bob", "can_read")
    status, coll, _ = cluster.request("GET", "/arvados/v1/collections/" + uuid, user="bob")
    assert status == 200
    bob_signed = coll["manifest_text"].split(" ")[1]
    assert keep_get(cluster, "keep0", bob_signed, token=cluster.token("bob"))[0] == 200
    assert keep_get(cluster, "keep0", bob_signed, token=cluster.token("alice"))[0] == 400


# --- listing ------------------------------------------------------------------------------------------

def test_filters_every_operator(cluster):
    seeded = cluster.seed(collections=[
        {"name": "alpha", "created_at": "2024-01-01T00:00:00Z", "properties": {"n": 1, "tag": "x"}},
        {"name": "Beta", "created_at": "2024-02-01T00:00:00Z", "properties": {"n": 2}},
        {"name": "gamma_1", "created_at": "2024-03-01T00:00:00Z", "properties": {"tag": "y"},
         "replication_desired": 3},
        {"name": None, "created_at": "2024-04-01T00:00:00Z"},
    ])["collections"]
    by = {c["name"]: c["uuid"] for c in seeded}

    def names(*filters, **kw):
        return sorted(str(i["name"]) for i in list_(cluster, "collections", filters=list(filters), **kw)["items"])

    assert names() == ["", "Beta", "alpha", "gamma_1"]
    assert names(["name", "=", "alpha"]) == ["alpha"]
    assert names(["name", "!=", "alpha"]) == ["", "Beta", "gamma_1"]  # != also matches NULL
    assert names(["created_at", "<", "2024-02-01T00:00:00Z"]) == ["alpha"]
    assert names(["created_at", "<=", "2024-02-01T00:00:00.000000000Z"]) == ["Beta", "alpha"]
    assert names(["created_at", ">", "2024-03-01T00:00:00Z"]) == [""]
    assert names(["created_at", ">=", "2024-03-01T00:00:00Z"]) == ["", "gamma_1"]
    assert names(["name", "like", "%a"]) == ["Beta", "alpha"]  # case-sensitive
    assert names(["name", "ilike", "b%"]) == ["Beta"]
    assert names(["name", "like", "gamma\\_%"]) == ["gamma_1"]  # `_` is a wildcard unless escaped
    assert names(["uuid", "in", [by["alpha"], by["Beta"]]]) == ["Beta", "alpha"]
    assert names(["uuid", "in", []]) == []
    assert names(["name", "not in", ["alpha", "Beta"]]) == ["", "gamma_1"]
    assert names(["replication_desired", "=", 3]) == ["gamma_1"]
    assert names(["properties", "exists", "tag"]) == ["alpha", "gamma_1"]
    assert names(["properties.tag", "exists", False]) == ["", "Beta"]
    assert names(["properties.n", "=", 2]) == ["Beta"]
    assert names(["properties.n", ">=", 2]) == ["Beta"]
    assert names(["properties.tag", "in", ["y", "z"]]) == ["gamma_1"]
    assert names(["properties.tag", "not in", ["x"]]) == ["", "Beta", "gamma_1"]
    assert names(["properties.tag", "ilike", "X"]) == ["alpha"]
    # filters are ANDed
    assert names(["name", "ilike", "%a%"], ["created_at", ">", "2024-01-15T00:00:00Z"]) == ["Beta", "gamma_1"]
    # errors are Rails' ArgumentErrors, 422
    status, body, _ = cluster.request("GET", "/arvados/v1/collections?" + urlencode(
        {"filters": json.dumps([["nosuch", "=", "x"]])}))
    assert status == 422 and "#<ArgumentError: Invalid attribute 'nosuch' in filter>" in body["errors"][0]

    # order, limit, offset, count, select
    out = list_(cluster, "collections", order=["created_at asc"], limit=2, offset=1, count="none",
                select=["uuid", "name", "created_at"])
    assert [i["name"] for i in out["items"]] == ["Beta", "gamma_1"]
    assert "items_available" not in out and (out["limit"], out["offset"]) == (2, 1)
    assert set(out["items"][0]) == {"uuid", "name", "created_at", "kind", "etag"}
    # Rails drops order columns that are not selected: here only "uuid desc" is left.
    out = list_(cluster, "collections", order=["created_at asc"], select=["uuid"])
    assert [i["uuid"] for i in out["items"]] == sorted(by.values(), reverse=True)
    default = list_(cluster, "collections")
    assert [i["uuid"] for i in default["items"]] == [c["uuid"] for c in reversed(seeded)]  # modified_at desc
    assert default["limit"] == 100 and default["items_available"] == 4
    assert list_(cluster, "collections", limit=5000)["limit"] == 1000
    # trashed collections are hidden unless asked for
    cluster.request("DELETE", "/arvados/v1/collections/" + by["alpha"])
    assert names() == ["", "Beta", "gamma_1"]
    assert len(list_(cluster, "collections", include_trash="true")["items"]) == 4


def test_keyset_paging_over_many_links_with_equal_created_at(cluster):
    import arvados.util
    when = "2025-05-05T05:05:05.123456000Z"
    target = cluster.request("POST", "/arvados/v1/collections", {"name": "target"})[1]["uuid"]
    seeded = cluster.seed(links=[{"link_class": "docker_image_hash", "name": "sha256:%064x" % i,
                                  "head_uuid": target, "created_at": when} for i in range(1100)])["links"]
    api = api_client(cluster)
    got = [l["uuid"] for l in arvados.util.keyset_list_all(
        api.links().list, filters=[["link_class", "=", "docker_image_hash"]])]
    assert len(got) == 1100 and sorted(got) == sorted(l["uuid"] for l in seeded)
    assert all(l["created_at"] == when for l in seeded)


def test_select_renders_the_same_values_as_a_full_listing(cluster):
    # The server computes only the selected attributes (it skips etags and
    # manifest signatures nobody asked for); what it sends must be the full
    # rendering restricted to `select`, for every attribute alone and for
    # the columns the listing selects.
    data = b"select me"
    coll = cluster.request("POST", "/arvados/v1/collections", {
        "name": "sel", "properties": {"k": "v"},
        "manifest_text": ". %s 0:%d:f.txt\n" % (signed(cluster, data), len(data))})[1]
    cluster.request("POST", "/arvados/v1/links", {
        "link_class": "docker_image_hash", "name": "sha256:" + "ab" * 32, "head_uuid": coll["uuid"],
        "properties": {"image_timestamp": "2024-01-01T00:00:00Z"}})
    for resource in ("collections", "links"):
        [full] = list_(cluster, resource)["items"]
        assert full["etag"] and (resource == "links" or "+A" in full["manifest_text"])
        selections = [[k] for k in full] + [["uuid", "created_at", "head_uuid", "name", "properties"]]
        for select in selections:
            select = [k for k in select if k in full]
            [got] = list_(cluster, resource, select=select)["items"]
            want = {k: full[k] for k in select}
            want["kind"] = full["kind"]
            want["etag"] = full["etag"] if "etag" in select else ""
            if "manifest_text" in select:
                # Each rendering signs afresh: a signature covers its expiry,
                # so two renders a second apart differ in their +A hints.
                # Same blocks, and every signature one Keep accepts.
                got_text, want_text = got.pop("manifest_text"), want.pop("manifest_text")
                assert unsigned(got_text) == unsigned(want_text)
                for text in (got_text, want_text):
                    [loc] = [t for t in text.split() if "+A" in t]
                    assert keep_get(cluster, "keep0", loc) == (200, data), loc
            assert got == want, (resource, select)


def test_ensure_unique_name_and_duplicates(cluster):
    def create(name, unique):
        return cluster.request("POST", "/arvados/v1/collections?ensure_unique_name=%s" % unique, {"name": name})

    status, first, _ = create("Docker image x", "true")
    assert status == 200 and first["name"] == "Docker image x"
    status, second, _ = create("Docker image x", "true")
    assert status == 200 and second["name"] == "Docker image x (%s)" % second["uuid"][-15:]
    status, body, _ = create("Docker image x", "false")
    assert status == 422
    assert "RecordNotUnique" in body["errors"][0] and "already exists" in body["errors"][0]
    long = "n" * 300
    create(long, "true")
    status, renamed, _ = create(long, "true")
    assert renamed["name"] == "n" * 237 + " (%s)" % renamed["uuid"][-15:]
    for bad in (".", "..", "a/b"):
        status, body, _ = create(bad, "true")
        assert status == 422, body
    # properties are replaced wholesale on update
    uuid = first["uuid"]
    cluster.request("PUT", "/arvados/v1/collections/" + uuid, {"properties": {"a": 1, "b": 2}})
    status, upd, _ = cluster.request("PUT", "/arvados/v1/collections/" + uuid, {"collection": {"properties": {"c": 3}}})
    assert status == 200 and upd["properties"] == {"c": 3}


def test_permissions_between_users_and_projects(cluster):
    alice, bob = cluster.user("alice")["uuid"], cluster.user("bob")["uuid"]
    project = cluster.create_project(alice, "shared")["uuid"]
    status, coll, _ = cluster.request("POST", "/arvados/v1/collections", {"name": "c", "owner_uuid": project})
    assert status == 200
    uuid = coll["uuid"]
    assert cluster.request("GET", "/arvados/v1/collections/" + uuid, user="bob")[0] == 404
    assert list_(cluster, "collections", user="bob")["items"] == []
    status, body, _ = cluster.request("POST", "/arvados/v1/collections", {"name": "x", "owner_uuid": project},
                                      user="bob")
    assert status == 422 and "Owner uuid '%s' not found" % project in body["errors"][0]
    # bob may not label alice's collection either
    status, body, _ = cluster.request("POST", "/arvados/v1/links", {"link_class": "docker_image_hash",
                                                                    "name": "x", "head_uuid": uuid}, user="bob")
    assert status == 422 and "Head uuid '%s' not found" % uuid in body["errors"][0]

    cluster.share(project, bob, "can_read")
    assert [i["uuid"] for i in list_(cluster, "collections", user="bob")["items"]] == [uuid]
    status, body, _ = cluster.request("POST", "/arvados/v1/collections", {"name": "x", "owner_uuid": project},
                                      user="bob")
    assert status == 403 and "without write permission on new owner" in body["errors"][0]
    status, body, _ = cluster.request("PUT", "/arvados/v1/collections/" + uuid, {"name": "y"}, user="bob")
    assert status == 403 and "is not writable by %s" % bob in body["errors"][0]

    cluster.share(project, bob, "can_write")
    status, body, _ = cluster.request("POST", "/arvados/v1/collections", {"name": "x", "owner_uuid": project},
                                      user="bob")
    assert status == 200 and body["owner_uuid"] == project
    # links default to the caller as owner
    status, link, _ = cluster.request("POST", "/arvados/v1/links", {"link_class": "docker_image_hash",
                                                                    "name": "sha256:1", "head_uuid": uuid}, user="bob")
    assert status == 200 and link["owner_uuid"] == bob and link["head_kind"] == "arvados#collection"
    assert link["tail_uuid"] == "" and link["kind"] == "arvados#link"
    status, ls, _ = cluster.request("GET", "/arvados/v1/links?" + urlencode(
        {"filters": json.dumps([["head_uuid", "=", uuid]])}), user="alice")
    assert ls["kind"] == "arvados#linkList" and [l["uuid"] for l in ls["items"]] == []  # owned by bob's home


# --- Keep ----------------------------------------------------------------------------------------------

def test_keep_put_checks_and_headers(cluster):
    data = b"some block data"
    good = hashlib.md5(data).hexdigest()
    status, body, headers = keep_put(cluster, "keep0", data, headers={"X-Keep-Storage-Classes": "default"})
    assert status == 200 and body.endswith("\n") and body.startswith("%s+%d+A" % (good, len(data)))
    assert headers["X-Keep-Replicas-Stored"] == "1"
    assert headers["X-Keep-Storage-Classes-Confirmed"] == "default=1"

    wrong = hashlib.md5(b"other").hexdigest()
    status, body, _ = keep_put(cluster, "keep1", data, path_hash=wrong)
    assert status == 400
    assert body.strip() == "content hash %s did not match specified locator %s" % (good, wrong)
    assert cluster.dump()["blocks"]["keep1"] == []

    # Over 64 MiB: refused on the headers, before the body (Expect: 100-continue).
    ks = keep_service(cluster, "keep0")
    conn = http.client.HTTPConnection("127.0.0.1", ks["port"], timeout=60)
    conn.putrequest("PUT", "/" + good)
    conn.putheader("Content-Length", str(BLOCK + 1))
    conn.putheader("Expect", "100-continue")
    conn.endheaders()
    resp = conn.getresponse()
    assert resp.status == 413
    conn.close()

    # The proxy needs a length and a valid token, and writes 2 replicas itself.
    conn = http.client.HTTPConnection("127.0.0.1", keep_service(cluster, "proxy")["port"], timeout=60)
    conn.putrequest("PUT", "/" + good)
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    assert conn.getresponse().status == 411
    conn.close()
    assert keep_put(cluster, "proxy", data, headers={"Authorization": "Bearer nope"})[0] == 403
    status, body, headers = keep_put(cluster, "proxy", b"via proxy",
                                     headers={"X-Keep-Desired-Replicas": "2", "X-Keep-Storage-Classes": "default"})
    assert status == 200 and headers["X-Keep-Replicas-Stored"] == "2"
    assert headers["X-Keep-Storage-Classes-Confirmed"] == "default=2"
    h = hashlib.md5(b"via proxy").hexdigest()
    blocks = cluster.dump()["blocks"]
    assert {b["hash"] for b in blocks["keep0"]} >= {h} and {b["hash"] for b in blocks["keep1"]} == {h}


def test_keep_get_requires_a_valid_signature(cluster):
    data = b"readable"
    loc = signed(cluster, data)
    bare = loc.split("+A")[0]
    assert keep_get(cluster, "keep0", loc) == (200, data)
    assert keep_get(cluster, "keep0", loc, method="HEAD")[0] == 200
    bad = loc.replace("+A", "+A0" if loc[loc.index("+A") + 2] != "0" else "+A1", 1)[:len(loc)]
    assert keep_get(cluster, "keep0", bad)[0] == 400
    assert keep_get(cluster, "keep0", bare)[0] == 400
    assert keep_get(cluster, "keep0", loc, token=cluster.token("bob"))[0] == 400
    assert keep_get(cluster, "keep0", loc, token="")[0] == 401
    expired = cluster.sign(bare, expires_at=int(time.time()) - 1)
    assert keep_get(cluster, "keep0", expired) == (401, b"expired signature\n")
    assert keep_get(cluster, "keep0", loc.split("+")[0])[0] == 405
    assert keep_get(cluster, "keep1", loc)[0] == 404  # stored on keep0 only


def test_benchmark_mode_discards_blocks_but_signs(cluster):
    cluster.reset(benchmark=True)
    data = b"x" * 1000
    claimed = hashlib.md5(b"not the data").hexdigest()
    status, body, headers = keep_put(cluster, "keep0", data, path_hash=claimed)
    assert status == 200 and body.startswith("%s+1000+A" % claimed)
    assert keep_get(cluster, "keep0", body.strip())[0] == 404  # nothing was stored
    assert cluster.dump()["blocks"] == {"keep0": [], "keep1": []}


def test_fault_injection(cluster):
    data = b"faulty"
    cluster.faults(keep_put_fail={"count": 1, "status": 503, "server": "keep0"})
    assert keep_put(cluster, "keep1", data)[0] == 200
    assert keep_put(cluster, "keep0", data)[0] == 503
    assert keep_put(cluster, "keep0", data)[0] == 200

    cluster.faults(keep_down=["keep1"])
    with pytest.raises(ConnectionRefusedError):
        keep_put(cluster, "keep1", data)
    cluster.clear_faults()
    assert keep_put(cluster, "keep1", data)[0] == 200

    cluster.faults(api_fail={"count": 2, "status": 502, "path_re": "users/current"})
    assert cluster.request("GET", "/arvados/v1/config")[0] == 200
    assert [cluster.request("GET", "/arvados/v1/users/current")[0] for _ in range(3)] == [502, 502, 200]
    cluster.faults(latency_ms={"api": 300})
    t0 = time.monotonic()
    cluster.request("GET", "/arvados/v1/config")
    assert time.monotonic() - t0 >= 0.3
    statuses = [e["status"] for e in cluster.log(server="keep0")]
    assert statuses == [503, 200]


def test_seeded_put_failure_rate_method_bursts_and_holds(cluster):
    import threading

    # A rate: each PUT fails with that probability, the same ones for a seed.
    def outcome():
        cluster.faults(keep_put_fail={"rate": 0.3, "seed": 7})
        return [keep_put(cluster, "keep0", b"rate %d" % i)[0] for i in range(40)]

    first = outcome()
    assert first == outcome()
    assert set(first) == {200, 503} and 4 <= first.count(503) <= 20
    assert cluster.faults()["keep_put_fail"]["failed"] == first.count(503)
    cluster.clear_faults()

    # An API burst limited to one method.
    cluster.faults(api_fail={"count": 2, "status": 503, "method": "POST", "path_re": "/links"})
    assert cluster.request("GET", "/arvados/v1/links")[0] == 200
    body = {"link": {"link_class": "tag", "name": "x", "head_uuid": cluster.user("alice")["uuid"]}}
    assert [cluster.request("POST", "/arvados/v1/links", body)[0] for _ in range(3)] == [503, 503, 200]

    # A hold: the second users/current waits until released, then answers.
    cluster.hold(server="api", method="GET", path_re="users/current", nth=2)
    assert cluster.request("GET", "/arvados/v1/users/current")[0] == 200
    answers = []
    t = threading.Thread(target=lambda: answers.append(cluster.request("GET", "/arvados/v1/users/current")[0]))
    t.start()
    assert cluster.wait_held(timeout=60)
    t.join(0.3)
    assert t.is_alive() and answers == []
    cluster.release()
    t.join(60)
    assert answers == [200]
    assert cluster.request("GET", "/arvados/v1/users/current")[0] == 200

    # A Keep hold catches a PUT before its body is read; reset releases it.
    cluster.hold(server="keep")
    t = threading.Thread(target=lambda: answers.append(keep_put(cluster, "keep1", b"held")[0]))
    t.start()
    assert cluster.wait_held(timeout=60)
    cluster.reset()
    t.join(60)
    assert answers[-1] == 200 and "hold" not in cluster.faults()


# --- the legacy tools end to end -------------------------------------------------------------------------

def run_tool(cluster, tmp_path, *argv, user="alice"):
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path / "home"), "LANG": "C.UTF-8"}
    env.update(cluster.env(user))
    (tmp_path / "home").mkdir(exist_ok=True)
    proc = subprocess.run([str(LEGACY_BIN / argv[0])] + [str(a) for a in argv[1:]], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode()


@pytest.mark.parametrize("size", ["small", "two_blocks"])
def test_legacy_arv_put_then_arv_get_round_trip(cluster, tmp_path, size):
    data = b"hello\n" if size == "small" else bytes(BLOCK) + b"hello"
    src = tmp_path / "input"
    src.write_bytes(data)
    uuid = run_tool(cluster, tmp_path, "arv-put", "--no-progress", "--filename", DOCKER_NAME, src).strip()

    out = tmp_path / "output"
    run_tool(cluster, tmp_path, "arv-get", uuid + "/" + DOCKER_NAME, out)
    assert out.read_bytes() == data

    expected = ". %s 0:%d:%s\n" % (" ".join(locators(data)), len(data), escape(DOCKER_NAME))
    [coll] = cluster.dump()["collections"]
    assert coll["uuid"] == uuid and coll["manifest_text"] == expected
    assert coll["portable_data_hash"] == spec_pdh(expected)
    assert coll["portable_data_hash"] == {"small": "f9e43acc9ea29a42c37eb64aa839c5a0+120",
                                          "two_blocks": "fd11ced60fef4dda24083623ea817d51+169"}[size]
    puts = [e for e in cluster.log() if e["server"] != "api" and e["method"] == "PUT"]
    assert len(puts) == 2 * len(locators(data))  # every block on both disk servers
    assert {(p["desired_replicas"], p["storage_classes"]) for p in puts} == {("2", "default")}


def test_legacy_arv_put_through_the_keep_proxy(cluster, tmp_path):
    cluster.reset(keep_proxy=True)
    src = tmp_path / "input"
    src.write_bytes(b"proxied\n")
    uuid = run_tool(cluster, tmp_path, "arv-put", "--no-progress", "--filename", "p.txt", src).strip()
    out = tmp_path / "out"
    run_tool(cluster, tmp_path, "arv-get", uuid + "/p.txt", out)
    assert out.read_bytes() == b"proxied\n"
    servers = [e["server"] for e in cluster.log() if e["server"] != "api" and e["method"] == "PUT"]
    assert sorted(servers) == ["keep0", "keep1", "proxy"]


# --- server-side image resolution ---------------------------------------------------------------------------

def test_server_image_resolution_ranking(cluster):
    def image(n):
        return {"name": "img%d" % n, "manifest_text": ". %s 0:0:sha256\\072%064x.tar\n" % (EMPTY, n)}
    colls = cluster.seed(collections=[image(1), image(2), image(3),
                                      {"name": "notimage", "manifest_text": ". %s 0:0:x.tar\n" % EMPTY}])["collections"]
    c1, c2, c3, bad = (c["uuid"] for c in colls)

    def link(cls, name, head, created, ts=None):
        return {"link_class": cls, "name": name, "head_uuid": head, "created_at": created,
                "properties": {"image_timestamp": ts} if ts else {}}
    cluster.seed(links=[
        link("docker_image_repo+tag", "repo:latest", c1, "2024-01-01T00:00:00Z", "2020-01-01T00:00:00Z"),
        link("docker_image_repo+tag", "repo:latest", c2, "2024-02-01T00:00:00Z"),
        link("docker_image_repo+tag", "repo:latest", c3, "2024-03-01T00:00:00Z", "2019-01-01T00:00:00Z"),
        # a newer link with a newer timestamp on c3 loses: the oldest link's values win
        link("docker_image_repo+tag", "repo:latest", c3, "2024-04-01T00:00:00Z", "2023-01-01T00:00:00Z"),
        link("docker_image_hash", "sha256:%064x" % 2, c2, "2024-02-01T00:00:00Z"),
        link("docker_image_repo+tag", "odd:latest", bad, "2024-01-01T00:00:00Z"),
    ])
    got = cluster.resolve("repo")
    assert [c["uuid"] for c in got["candidates"]] == [c1, c3, c2]
    assert got["uuid"] == c1 and got["pdh"] == colls[0]["portable_data_hash"]
    assert cluster.resolve("repo", tag="latest")["uuid"] == c1
    assert cluster.resolve("sha256:%064x" % 2)["uuid"] == c2  # first-colon split, then hash LIKE
    assert cluster.resolve(colls[2]["portable_data_hash"])["uuid"] == c3
    assert cluster.resolve("odd") == {"error": "Matching Docker image is incompatible with "
                                               "'docker_image_formats' configuration."}
    assert cluster.resolve("nope") == {"error": 'docker image "nope" not found'}
    assert "error" in cluster.resolve("repo", user="bob")
