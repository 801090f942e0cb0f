"""The `sim-cluster` command: start a simulated Arvados cluster in the
foreground until SIGINT/SIGTERM and print how to connect to it."""

import argparse
import json
import os
import signal
import sys
import threading

from .cluster import Cluster, parse_formats
from .store import USERS


def build_parser():
    p = argparse.ArgumentParser(
        prog="sim-cluster",
        description="Run a simulated Arvados cluster (API server + Keep) on 127.0.0.1.")
    p.add_argument("--state-dir", help="keep certificates, signing key and blocks here "
                                       "(default: a temporary directory removed at exit)")
    p.add_argument("--api-port", type=int, default=0, help="HTTPS API port (0 = pick a free port)")
    p.add_argument("--keep-servers", type=int, default=2, help="number of Keep disk servers (default 2)")
    p.add_argument("--keep-proxy", action="store_true",
                   help="offer clients only a Keep proxy (keep_services/accessible)")
    p.add_argument("--docker-image-formats", default="v2",
                   help='comma-separated formats for discovery dockerImageFormats; "" = empty list, '
                        '"none" = omit the key (default "v2")')
    p.add_argument("--default-replication", type=int, default=2)
    p.add_argument("--storage-classes", default="default",
                   help="comma-separated storage classes, all Default:true (default \"default\")")
    p.add_argument("--blob-signing-ttl", type=int, default=1209600, help="seconds (default 1209600)")
    p.add_argument("--benchmark", action="store_true",
                   help="Keep accepts and discards block bodies (no md5 check, nothing stored)")
    p.add_argument("--error-format", choices=("controller", "rails"), default="controller",
                   help="wrap Rails errors like the controller (default) or send Rails' own body")
    p.add_argument("--info-file", help="write a JSON description of the running cluster here")
    p.add_argument("--watch-pid", type=int, help="exit when this process no longer exists")
    p.add_argument("--quiet", action="store_true", help="print nothing")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    config = {
        "docker_image_formats": parse_formats(args.docker_image_formats),
        "default_replication": args.default_replication,
        "storage_classes": args.storage_classes,
        "blob_signing_ttl": args.blob_signing_ttl,
        "keep_proxy": args.keep_proxy,
        "benchmark": args.benchmark,
        "error_format": args.error_format,
    }
    # Handlers first, so a signal during start-up still ends in a clean stop.
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    cluster = None
    try:
        cluster = Cluster(state_dir=args.state_dir, api_port=args.api_port,
                          keep_servers=args.keep_servers, config=config, quiet=args.quiet)
        cluster.start()
    except (OSError, ValueError, RuntimeError) as e:
        sys.stderr.write("sim-cluster: %s\n" % e)
        if cluster is not None:
            cluster.stop()
        return 1

    info = cluster.info()
    if args.info_file:
        tmp = args.info_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump(info, f, indent=2)
        os.replace(tmp, args.info_file)
    if not args.quiet:
        alice, bob = USERS[0], USERS[1]
        lines = [
            "# Simulated Arvados cluster %s (pid %d), state dir %s" % (info["cluster_id"], info["pid"],
                                                                       info["state_dir"]),
            "export ARVADOS_API_HOST=%s" % info["api_host"],
            "export ARVADOS_API_TOKEN=%s" % alice["token"],
            "export ARVADOS_API_HOST_INSECURE=1",
            "# user alice %s (above); user bob %s: ARVADOS_API_TOKEN=%s" % (alice["uuid"], bob["uuid"],
                                                                           bob["token"]),
            "# control API: %s  (CA certificate: %s)" % (info["control_url"], info["ca_cert"]),
        ]
        for ks in info["keep_services"]:
            lines.append("# keep %s %s %s %s" % (ks["name"], ks["type"], ks["uuid"], ks["url"]))
        if cluster.config["keep_proxy"]:
            lines.append("# clients are offered only the Keep proxy")
        if cluster.config["benchmark"]:
            lines.append("# BENCHMARK MODE: Keep discards block bodies (no md5 check, nothing stored)")
        print("\n".join(lines), flush=True)

    while not stop.is_set():
        stop.wait(0.5)
        if args.watch_pid and not _alive(args.watch_pid):
            break
    cluster.stop()
    return 0


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


if __name__ == "__main__":
    sys.exit(main())
