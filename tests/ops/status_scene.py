"""A scene for `status` on the real kernel, run as `unshare -n python status_scene.py` (a
throw-away network namespace: nothing here touches the host's settings).

- ephemeral range 40000-40099 (100 ports) in the namespace, and a soft open-files limit
  of 190 for this process;
- 127.0.0.1:7001 listens with backlog 2 and never accepts: 8 clients connect, the queue
  fills and the rest overflow (ListenOverflows grows as their SYNs are retried);
- 127.0.0.1:7002 is a SO_REUSEPORT group of two listeners (backlog 16) that accepts:
  70 connections held, 5 whose server end closed (CLOSE_WAIT on the client, FIN_WAIT2 on
  the server), 10 that went through TIME_WAIT on the client side.

Prints one JSON line {"pid": ..., "fds": ...} when ready, then holds everything until
its stdin closes.
"""

import json
import os
import resource
import select
import socket
import subprocess
import sys
import time


def listener(port: int, backlog: int, reuseport: bool = False) -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuseport:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(("127.0.0.1", port))
    s.listen(backlog)
    return s


def accept_all(listeners: list[socket.socket], want: int) -> list[socket.socket]:
    out: list[socket.socket] = []
    deadline = time.monotonic() + 10
    while len(out) < want and time.monotonic() < deadline:
        ready, _, _ = select.select(listeners, [], [], 0.2)
        for s in ready:
            out.append(s.accept()[0])
    assert len(out) == want, f"accepted {len(out)} of {want}"
    return out


def main() -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    with open("/proc/sys/net/ipv4/ip_local_port_range", "w") as f:
        f.write("40000 40099")
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (190, hard))
    held: list[socket.socket] = []

    full = listener(7001, 2)
    for _ in range(8):
        c = socket.socket()
        c.setblocking(False)
        c.connect_ex(("127.0.0.1", 7001))
        held.append(c)

    group = [listener(7002, 16, reuseport=True) for _ in range(2)]
    clients = [socket.create_connection(("127.0.0.1", 7002)) for _ in range(10)]
    servers = accept_all(group, 10)
    for c in clients:  # the client closes first: TIME_WAIT on its side, once the server closes
        c.close()
    time.sleep(0.2)
    for s in servers:
        s.close()
    for _ in range(75):
        clients.append(socket.create_connection(("127.0.0.1", 7002)))
        servers += accept_all(group, 1)
    for s in servers[10:15]:  # the server closes first: CLOSE_WAIT on the client
        s.close()
    held += [c for c in clients if c.fileno() >= 0] + [s for s in servers if s.fileno() >= 0]
    held += [full] + group
    time.sleep(0.5)
    print(json.dumps({"pid": os.getpid(), "fds": len(os.listdir("/proc/self/fd"))}), flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
