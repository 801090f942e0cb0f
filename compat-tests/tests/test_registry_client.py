"""The registry client (issue 15) against real registries, with no Docker.

Each test runs ``registry_probe`` (compat-tests/rust/registry_probe.rs: the
client resolving one reference and streaming every blob through its
checked reader) against Debian's docker-registry in one of the variants of
``registry_testbed`` (anonymous HTTP, HTTPS with Basic auth, token auth,
a fault-injecting proxy in front), and checks what a user would: the image
id and manifest digest, the bytes of every layer, or the one error line.
``docker`` is on no directory of the PATH the probe gets.
"""

import base64
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from registry_testbed import (  # noqa: F401  (registries is a fixture)
    IDENTITY_TOKEN,
    PASSWORD,
    USER,
    closed_port,
    anonymous_proxy,
    credential_helper,
    registries,
    token_proxy,
)

ROOT = Path(__file__).resolve().parents[2]
ERROR_PREFIX = "registry_probe: ERROR: "


@pytest.fixture(scope="session")
def probe_binary():
    given = os.environ.get("KDTEST_REGISTRY_PROBE")
    if given:
        return Path(given)
    # Cheap when `cargo test` has just built the examples (run-tests).
    subprocess.run(
        ["cargo", "build", "--quiet", "--example", "registry_probe"],
        cwd=ROOT,
        check=True,
    )
    return ROOT / "target" / "debug" / "examples" / "registry_probe"


class Probe:
    def __init__(self, binary, tmp_path):
        self.binary = binary
        self.tmp_path = tmp_path
        self.bin = tmp_path / "bin"
        self.bin.mkdir()
        self.home = tmp_path / "home"
        self.home.mkdir()
        self.docker_config = self.home / ".docker"
        self.docker_config.mkdir()
        self.env = {
            # Only the test's own helpers: the probe runs no other program.
            "PATH": str(self.bin),
            "HOME": str(self.home),
            "LANG": "C.UTF-8",
        }
        # The pull must not need Docker: no `docker` on the PATH it gets.
        for directory in self.env["PATH"].split(":"):
            assert not (Path(directory) / "docker").exists(), "docker in %s" % directory
        assert shutil.which("docker", path=self.env["PATH"]) is None

    def config(self, value):
        (self.docker_config / "config.json").write_text(json.dumps(value))

    def auths(self, registry, user=USER, password=PASSWORD):
        token = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
        self.config({"auths": {registry: {"auth": token}}})

    def helper(self, name, registry, user=USER, secret=PASSWORD):
        """docker-credential-NAME on PATH: answers for `registry` only."""
        credential_helper(self.bin, name, registry, user, secret)

    def run(self, reference, *args, env=None, retries=2):
        argv = [str(self.binary), reference, "--retries", str(retries), *args]
        full_env = dict(self.env)
        full_env.update(env or {})
        proc = subprocess.run(
            argv,
            env={k: v for k, v in full_env.items() if v is not None},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            timeout=300,
        )
        return proc.returncode, proc.stdout.decode(), proc.stderr.decode()

    def pull(self, reference, *args, **kw):
        code, out, err = self.run(reference, *args, **kw)
        assert code == 0, "exit %d\nstdout: %s\nstderr: %s" % (code, out, err)
        for secret in (PASSWORD, IDENTITY_TOKEN):
            assert secret not in out + err
        return json.loads(out)

    def fail(self, reference, *args, **kw):
        code, out, err = self.run(reference, *args, **kw)
        assert code == 1, "exit %d\nstdout: %s\nstderr: %s" % (code, out, err)
        assert out == ""
        lines = err.strip().splitlines()
        errors = [l for l in lines if l.startswith(ERROR_PREFIX)]
        assert len(errors) == 1, err
        for secret in (PASSWORD, IDENTITY_TOKEN):
            assert secret not in err
        return errors[0][len(ERROR_PREFIX) :]


@pytest.fixture
def probe(probe_binary, tmp_path):
    return Probe(probe_binary, tmp_path)




def assert_image(result, image):
    """The probe read exactly what was pushed."""
    assert result["image_id"] == image.image_id
    assert result["config"]["digest"] == image.image_id
    assert result["config"]["read_sha256"] == image.image_id
    assert result["manifest_digest"] == image.manifest_digest
    assert [(l["digest"], l["size"]) for l in result["layers"]] == [(l["digest"], l["size"]) for l in image.layers]
    for layer in result["layers"]:
        assert layer["read_bytes"] == layer["size"]
        assert layer["read_sha256"] == layer["digest"]


# --------------------------------------------------------------------------
# Pulls that work


def test_anonymous_http(registries, probe):
    registry = registries.get("anonymous")
    image = registries.content["plain"]
    result = probe.pull("docker://%s/kdtest/plain:v1" % registry.address)
    assert_image(result, image)
    assert result["reference"] == "%s/kdtest/plain:v1" % registry.address
    assert result["local_name"] == "%s/kdtest/plain:v1" % registry.address
    # skopeo pushed the generator's layers gzip-compressed.
    assert all(l["media_type"].endswith("gzip") for l in result["layers"])


def test_https_with_basic_auth_from_auths(registries, probe):
    registry = registries.get("basic-tls")
    probe.auths(registry.address)
    result = probe.pull(
        "%s/kdtest/plain:v1" % registry.address, "--debug", env={"SSL_CERT_FILE": str(registries.ca)}
    )
    assert_image(result, registries.content["plain"])


def test_https_ca_from_docker_certs_d(registries, probe, tmp_path):
    registry = registries.get("basic-tls")
    probe.auths(registry.address)
    certs = tmp_path / "certs.d"
    (certs / registry.address).mkdir(parents=True)
    shutil.copy(registries.ca, certs / registry.address / "ca.crt")
    result = probe.pull("%s/kdtest/plain:v1" % registry.address, "--certs-dir", str(certs))
    assert_image(result, registries.content["plain"])


def test_https_with_an_unknown_ca_is_a_tls_error(registries, probe, tmp_path):
    registry = registries.get("basic-tls")
    probe.auths(registry.address)
    error = probe.fail(
        "%s/kdtest/plain:v1" % registry.address,
        "--certs-dir",
        str(tmp_path / "none"),
        env={"SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt"},
    )
    assert error.startswith("TLS failure talking to registry %s: " % registry.address), error
    assert "certificate" in error


def test_basic_auth_wrong_password(registries, probe):
    registry = registries.get("basic-tls")
    probe.auths(registry.address, password="wrong")
    error = probe.fail("%s/kdtest/plain:v1" % registry.address, env={"SSL_CERT_FILE": str(registries.ca)})
    assert error.startswith(
        'registry %s refused the credentials of user "%s" for kdtest/plain' % (registry.address, USER)
    ), error


def test_basic_auth_without_credentials(registries, probe):
    registry = registries.get("basic-tls")
    error = probe.fail("%s/kdtest/plain:v1" % registry.address, env={"SSL_CERT_FILE": str(registries.ca)})
    assert error.startswith(
        "registry %s requires a login to pull kdtest/plain, and no credentials for it were found" % registry.address
    ), error


def test_token_auth_with_password(registries, probe):
    registry = registries.get("token")
    probe.auths(registry.address)
    result = probe.pull("%s/kdtest/plain:v1" % registry.address)
    assert_image(result, registries.content["plain"])
    asked = [r for r in registry.token_server.requests if r[0] == "GET" and r[2]]
    assert asked and asked[-1][1]["scope"] == ["repository:kdtest/plain:pull"]
    assert asked[-1][1]["service"] == ["kdtest-registry"]


def test_token_auth_anonymous_public_and_private(registries, probe):
    registry = registries.get("token")
    result = probe.pull("%s/kdtest/public:v1" % registry.address)
    assert_image(result, registries.content["public"])
    error = probe.fail("%s/kdtest/plain:v1" % registry.address)
    assert error.startswith("registry %s refused access to kdtest/plain" % registry.address), error


def test_token_auth_with_an_identity_token(registries, probe):
    registry = registries.get("token")
    probe.config({"auths": {registry.address: {"identitytoken": IDENTITY_TOKEN}}})
    before = len(registry.token_server.requests)
    result = probe.pull("%s/kdtest/plain:v1" % registry.address)
    assert_image(result, registries.content["plain"])
    posts = [r for r in registry.token_server.requests[before:] if r[0] == "POST"]
    assert posts and posts[0][1]["grant_type"] == ["refresh_token"]
    assert posts[0][1]["scope"] == ["repository:kdtest/plain:pull"]


def test_token_auth_wrong_password(registries, probe):
    registry = registries.get("token")
    probe.auths(registry.address, password="wrong")
    error = probe.fail("%s/kdtest/plain:v1" % registry.address)
    assert error == (
        'registry %s refused the credentials of user "%s" for kdtest/plain: '
        "UNAUTHORIZED: wrong user name or password" % (registry.address, USER)
    )


def test_credentials_from_a_helper(registries, probe):
    registry = registries.get("token")
    probe.helper("kdtest", registry.address)
    probe.config({"credHelpers": {registry.address: "kdtest"}})
    assert_image(probe.pull("%s/kdtest/plain:v1" % registry.address), registries.content["plain"])
    # The same helper as the default store.
    probe.config({"credsStore": "kdtest"})
    assert_image(probe.pull("%s/kdtest/plain:v1" % registry.address), registries.content["plain"])


def test_a_helper_without_credentials_means_anonymous(registries, probe):
    registry = registries.get("token")
    probe.helper("kdtest", "some.other.registry")
    probe.config({"credsStore": "kdtest"})
    assert_image(probe.pull("%s/kdtest/public:v1" % registry.address), registries.content["public"])
    error = probe.fail("%s/kdtest/plain:v1" % registry.address)
    assert error.startswith("registry %s refused access to kdtest/plain" % registry.address), error


def test_multi_platform_index(registries, probe):
    registry = registries.get("anonymous")
    reference = "%s/kdtest/multi:v1" % registry.address
    assert_image(probe.pull(reference), registries.content["multi-amd64"])
    assert_image(probe.pull(reference, "--platform", "linux/amd64"), registries.content["multi-amd64"])
    assert_image(probe.pull(reference, "--platform", "linux/arm64"), registries.content["multi-arm64"])
    assert_image(probe.pull(reference, "--platform", "linux/arm64/v8"), registries.content["multi-arm64"])


def test_a_platform_not_offered(registries, probe):
    registry = registries.get("anonymous")
    error = probe.fail("%s/kdtest/multi:v1" % registry.address, "--platform", "linux/s390x")
    assert error == (
        "%s/kdtest/multi:v1 has no image for platform linux/s390x; it offers linux/amd64, linux/arm64/v8 "
        "(choose one with --platform)" % registry.address
    )


def test_pull_by_digest(registries, probe):
    registry = registries.get("anonymous")
    image = registries.content["plain"]
    result = probe.pull("%s/kdtest/plain@%s" % (registry.address, image.manifest_digest))
    assert_image(result, image)
    assert result["local_name"] is None
    # The index by its digest resolves too, to the default platform.
    index = registries.content["multi-index"]
    result = probe.pull("%s/kdtest/multi@%s" % (registry.address, index.manifest_digest))
    assert_image(result, registries.content["multi-amd64"])


def test_a_debug_log_names_requests_but_no_secret(registries, probe):
    registry = registries.get("token")
    probe.auths(registry.address)
    code, out, err = probe.run("%s/kdtest/plain:v1" % registry.address, "--debug")
    assert code == 0, err
    lines = [l for l in err.splitlines() if " arvados.keepdocker.registry[" in l and " DEBUG: " in l]
    assert any("GET http://%s/v2/kdtest/plain/manifests/v1 200" % registry.address in l for l in lines), err
    assert any(("GET %s 200" % registry.token_server.realm) in l for l in lines), err
    basic = base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()
    # No password, no Basic header, no JWT (their base64 header starts eyJ).
    for secret in (PASSWORD, IDENTITY_TOKEN, basic, "eyJ", "Authorization"):
        assert secret not in err


# --------------------------------------------------------------------------
# Faults: each gives one clear error, or is survived


def test_corrupt_blob(registries, probe, anonymous_proxy):
    image = registries.content["plain"]
    layer = image.layers[1]["digest"]
    anonymous_proxy.faults[layer] = "corrupt"
    error = probe.fail("%s/kdtest/plain:v1" % anonymous_proxy.address)
    assert error.startswith(
        "blob %s of %s/kdtest/plain: the bytes received have digest sha256:" % (layer, anonymous_proxy.address)
    ), error
    assert error.endswith(", expected %s" % layer)


def test_a_corrupt_config_blob(registries, probe, anonymous_proxy):
    image = registries.content["plain"]
    anonymous_proxy.faults[image.image_id] = "corrupt"
    error = probe.fail("%s/kdtest/plain:v1" % anonymous_proxy.address)
    assert error.startswith(
        "blob %s of %s/kdtest/plain: the bytes received have digest sha256:" % (image.image_id, anonymous_proxy.address)
    ), error


def test_a_manifest_that_does_not_match_its_digest(registries, probe, anonymous_proxy):
    image = registries.content["plain"]
    digest = image.manifest_digest
    anonymous_proxy.faults[digest] = "corrupt"
    reference = "%s/kdtest/plain@%s" % (anonymous_proxy.address, digest)
    error = probe.fail(reference)
    assert error.startswith("manifest %s of %s: the bytes received have digest sha256:" % (digest, reference)), error
    assert error.endswith(", expected %s" % digest)
    # The manifest an index names is checked the same way.
    amd64 = registries.content["multi-amd64"].manifest_digest
    anonymous_proxy.faults[amd64] = "corrupt"
    error = probe.fail("%s/kdtest/multi:v1" % anonymous_proxy.address)
    assert error.startswith("manifest %s of %s/kdtest/multi:v1: the bytes received" % (amd64, anonymous_proxy.address))


def test_truncated_blob(registries, probe, anonymous_proxy):
    image = registries.content["plain"]
    layer = image.layers[0]
    anonymous_proxy.faults[layer["digest"]] = "truncate"
    error = probe.fail("%s/kdtest/plain:v1" % anonymous_proxy.address)
    assert error == "blob %s of %s/kdtest/plain: the registry sent %d bytes, expected %d" % (
        layer["digest"],
        anonymous_proxy.address,
        layer["size"] // 2,
        layer["size"],
    )


def test_a_cut_connection_resumes_with_range(registries, probe, anonymous_proxy):
    image = registries.content["big"]
    layer = image.layers[0]
    anonymous_proxy.faults[layer["digest"]] = "cut-once"
    assert_image(probe.pull("%s/kdtest/big:v1" % anonymous_proxy.address), image)
    requests = anonymous_proxy.blob_requests(layer["digest"])
    assert len(requests) == 2, requests
    assert requests[0][2] is None
    # The second asks for the rest only, from where the cut left it.
    assert requests[1][2] is not None and requests[1][2].startswith("bytes=")
    start = int(requests[1][2][len("bytes=") : -1])
    assert 0 < start < layer["size"]
    assert requests[1][4] == 206


def test_a_connection_cut_every_time_is_an_error(registries, probe, anonymous_proxy):
    image = registries.content["big"]
    layer = image.layers[0]
    anonymous_proxy.faults[layer["digest"]] = "cut-always"
    error = probe.fail("%s/kdtest/big:v1" % anonymous_proxy.address, retries=2)
    assert error.startswith(
        "blob %s of %s/kdtest/big: the transfer stopped after " % (layer["digest"], anonymous_proxy.address)
    ), error
    assert " of %d bytes and could not be resumed: " % layer["size"] in error
    # The first request and one per retry.
    assert len(anonymous_proxy.blob_requests(layer["digest"])) == 3


def test_too_many_requests_honours_retry_after(registries, probe, anonymous_proxy):
    image = registries.content["plain"]
    layer = image.layers[0]["digest"]
    anonymous_proxy.faults[layer] = "429-once"
    assert_image(probe.pull("%s/kdtest/plain:v1" % anonymous_proxy.address), image)
    assert [r[4] for r in anonymous_proxy.blob_requests(layer)] == [429, 200]


def test_too_many_requests_every_time(registries, probe, anonymous_proxy):
    layer = registries.content["plain"].layers[0]["digest"]
    anonymous_proxy.faults[layer] = "429-always"
    error = probe.fail("%s/kdtest/plain:v1" % anonymous_proxy.address, "--max-retry-after", "0", retries=2)
    assert error == (
        "registry %s still answered 429 Too Many Requests for blob %s of %s/kdtest/plain after every retry: "
        "try again later" % (anonymous_proxy.address, layer, anonymous_proxy.address)
    )
    assert len(anonymous_proxy.blob_requests(layer)) == 3


def test_redirects_carry_no_credentials_to_another_host(registries, probe, token_proxy):
    image = registries.content["plain"]
    probe.auths(token_proxy.address)
    for layer in image.layers:
        token_proxy.faults[layer["digest"]] = "redirect"
    assert_image(probe.pull("%s/kdtest/plain:v1" % token_proxy.address), image)
    # The registry got the token; the blob host got the blobs and nothing else.
    assert all(r[3] for r in token_proxy.log if r[4] != 401 and "/v2/kdtest/" in r[1])
    served = token_proxy.blob_host.requests
    assert sorted(p.split("?")[0].rsplit("/", 1)[-1] for p, _ in served) == sorted(
        l["digest"] for l in image.layers
    )
    assert all(auth is None for _, auth in served), served


def test_a_redirect_to_plain_http_elsewhere_is_refused(registries, probe, anonymous_proxy):
    layer = registries.content["plain"].layers[0]["digest"]
    anonymous_proxy.faults[layer] = "redirect-insecure"
    error = probe.fail("%s/kdtest/plain:v1" % anonymous_proxy.address)
    assert error == (
        "registry %s: refusing plain HTTP to blobs.example.invalid: only loopback hosts and hosts given with "
        "--insecure-registry may be reached without TLS" % anonymous_proxy.address
    )


def test_missing_blob(registries, probe, anonymous_proxy):
    layer = registries.content["plain"].layers[1]["digest"]
    anonymous_proxy.faults[layer] = "missing"
    error = probe.fail("%s/kdtest/plain:v1" % anonymous_proxy.address)
    assert error == "registry %s has no blob %s in kdtest/plain (the manifest names it)" % (
        anonymous_proxy.address,
        layer,
    )


def test_unknown_references(registries, probe):
    registry = registries.get("anonymous")
    error = probe.fail("%s/kdtest/plain:nope" % registry.address)
    assert error.startswith("%s/kdtest/plain:nope: no such image in the registry (MANIFEST_UNKNOWN" % registry.address)
    # Registry 2.8 answers MANIFEST_UNKNOWN for a repository it never saw.
    error = probe.fail("%s/kdtest/nothing:v1" % registry.address)
    assert error.startswith("%s/kdtest/nothing:v1: no such image in the registry (MANIFEST_UNKNOWN" % registry.address)
    digest = "sha256:" + "0" * 64
    error = probe.fail("%s/kdtest/plain@%s" % (registry.address, digest))
    assert error.startswith("%s/kdtest/plain@%s: no such image in the registry" % (registry.address, digest))


def test_schema1_is_refused(registries, probe):
    registry = registries.get("anonymous")
    error = probe.fail("%s/kdtest/old:v1" % registry.address)
    assert error == (
        "%s/kdtest/old:v1 is a schema 1 manifest, which is not supported (Docker no longer pulls them either): "
        "push the image again with a current tool" % registry.address
    )


def test_registry_down(probe):
    address = "127.0.0.1:%d" % closed_port()
    error = probe.fail("%s/kdtest/plain:v1" % address, retries=1)
    assert error.startswith("cannot reach registry %s: " % address), error
    assert "refused" in error.lower()
