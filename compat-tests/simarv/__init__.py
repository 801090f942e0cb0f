"""simarv: a simulated Arvados cluster for compatibility tests.

The package owns everything the project's tests talk to instead of a real
Arvados cluster: an HTTPS API server (controller + Rails behaviour), several
Keep disk servers, an optional Keep proxy, and a `/_sim/` control API for
tests. It uses the Python standard library only.

Modules:
    util       timestamps, UUIDs, request ids, Ruby-style inspect
    blobsig    Keep permission signatures (contract §5.1)
    manifest   manifest validation, signing, portable data hash (§6)
    filters    list filters, ordering and select (§2.1)
    store      the object database and the permission model
    discovery  the discovery document and the exported config
    resolve    the server's Docker image resolution (§8.1)
    api        the HTTPS API server and the /_sim/ hooks
    keep       Keep disk servers and the Keep proxy (§5)
    cluster    wiring: config, certificate, servers, log, faults
    cli        the `sim-cluster` command line
    client     `SimCluster`, the small client other tests use
"""
