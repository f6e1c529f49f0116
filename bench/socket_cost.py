#!/usr/bin/env python3
"""Kernel memory per idle established TCP socket, measured on the running kernel.

    unshare -n python3 bench/socket_cost.py [N]      (default N = 9000; root)

Opens N loopback connections (2N sockets) inside the private network namespace that
`unshare -n` gives it, and prints the /proc/meminfo Slab delta per socket and the slab
caches that grew. N is bounded by RLIMIT_NOFILE: 2N + a few descriptors must fit.
The figure feeds capacity.CONSTANTS["socket_bytes"].
"""

import os
import resource
import socket
import subprocess
import sys
import time


def slab_bytes() -> int:
    for line in open("/proc/meminfo"):
        if line.startswith("Slab:"):
            return int(line.split()[1]) * 1024
    raise SystemExit("no Slab line in /proc/meminfo")


def slab_caches() -> dict[str, tuple[int, int]]:
    out = {}
    for line in open("/proc/slabinfo").readlines()[2:]:
        f = line.split()
        out[f[0]] = (int(f[1]), int(f[3]))  # active objects, object size
    return out


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
    if open("/proc/net/sockstat").read().split("inuse ")[1].split()[0] != "0":
        raise SystemExit("run it in a fresh network namespace: unshare -n python3 " + sys.argv[0])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if 2 * n + 16 > hard:
        raise SystemExit(f"N={n} needs {2 * n + 16} descriptors; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 5000))
    srv.listen(4096)
    m0, s0 = slab_bytes(), slab_caches()
    held = []
    for _ in range(n):
        c = socket.create_connection(("127.0.0.1", 5000))
        a, _ = srv.accept()
        held += [c, a]
    time.sleep(0.5)
    m1, s1 = slab_bytes(), slab_caches()
    sockets = 2 * n
    print(f"kernel {os.uname().release}: {sockets} sockets, "
          f"slab delta {(m1 - m0) / sockets:,.0f} B per socket")
    for name, (objs, size) in sorted(s1.items(), key=lambda kv: -kv[1][0] * kv[1][1]):
        grown = objs - s0.get(name, (0, 0))[0]
        if grown > n // 2:
            print(f"  {name:24s} +{grown:6d} x {size:5d} B = {grown * size / sockets:6.0f} B/socket")


if __name__ == "__main__":
    main()
