"""A real server to load: Debian's HAProxy in a throw-away network namespace, joined by a
veth pair (made with pyroute2) to a second throw-away namespace where the client runs.
Never the host's own network: both namespaces are created here and removed afterwards,
with HAProxy stopped, also when the body raises. Used by tests/probe/test_probe_target.py
and bench/target.py.

HAProxy holds an idle TCP connection with a tcp-mode frontend that waits for data it
never needs: `tcp-request inspect-delay` with `tcp-request content accept if WAIT_END`
keeps each connection open for the inspect delay (HAProxy 2.6 configuration manual,
"tcp-request inspect-delay" and "wait_end"), with no backend. HAProxy sizes its
descriptors from `maxconn` (two per connection, for the server side it would open), so
with the 20,000 hard limit one process takes at most ~9,900: several frontends on
several processes share larger loads.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

SERVER_IP = "10.77.0.2"
CLIENT_IP = "10.77.0.1"
PREFIX = 24
_names = itertools.count()


@dataclass
class Frontend:
    port: int
    maxconn: int | None = None  # HAProxy stops accepting past it
    backlog: int | None = None  # the listen() backlog (default: maxconn, capped by somaxconn)
    timeout_client: str = "1h"  # idle connections are closed after it


@dataclass
class Pair:
    server: str  # network namespace names (/run/netns/NAME)
    client: str
    server_ip: str = SERVER_IP
    client_ips: list[str] = field(default_factory=list)
    haproxy: list[subprocess.Popen] = field(default_factory=list)

    def run(self, cmd: list[str], **kw) -> subprocess.CompletedProcess:
        """A command inside the client's namespace."""
        return subprocess.run(
            ["nsenter", f"--net=/run/netns/{self.client}", *cmd],
            capture_output=True,
            text=True,
            **kw,
        )

    def tunekit(self, *args: str, setup: str = "", **kw) -> subprocess.CompletedProcess:
        """tunekit inside the client's namespace, after `setup` (shell) there."""
        script = f"{setup}\nexec {sys.executable} -m tunekit " + " ".join(args)
        return self.run(["sh", "-ec", script], **kw)

    def established(self, port: int) -> int:
        """Connections established at the server's port, in the server's namespace."""
        return sum(
            1
            for line in _server_tcp(self.haproxy[0].pid)
            if line[3] == "01" and int(line[1].rsplit(":", 1)[1], 16) == port
        )


def _server_tcp(pid: int) -> list[list[str]]:
    # /proc/PID/net is the network namespace of that process: HAProxy's
    text = Path(f"/proc/{pid}/net/tcp").read_text()
    return [line.split() for line in text.splitlines()[1:]]


MAXCONN = 9_900  # a process's: two descriptors each within the 20,000 hard limit


def haproxy_config(frontends: list[Frontend], ip: str) -> str:
    lines = [
        "global",
        f"    maxconn {MAXCONN}",
        "defaults hold",
        "    mode tcp",
        "    timeout client 1h",
        "    tcp-request inspect-delay 1h",
    ]
    for f in frontends:
        lines += [f"frontend hold{f.port}", f"    bind {ip}:{f.port}"]
        lines += [f"    maxconn {f.maxconn}"] if f.maxconn else []
        lines += [f"    backlog {f.backlog}"] if f.backlog else []
        lines += [f"    timeout client {f.timeout_client}"]
        lines += ["    tcp-request content accept if WAIT_END"]
    return "\n".join(lines) + "\n"


def _listening(pid: int, ports: list[int]) -> bool:
    try:
        lines = _server_tcp(pid)
    except OSError:
        return False
    up = {int(f[1].rsplit(":", 1)[1], 16) for f in lines if f[3] == "0A"}
    return set(ports) <= up


def _accepting(pair: Pair, proc: subprocess.Popen, port: int) -> None:
    """Wait until HAProxy accepts (not only listens: under load it may take a while to
    reach its event loop, and a probe would then see its accept queue as full): a
    connection from the client's namespace gives HAProxy one more descriptor."""
    fds = len(os.listdir(f"/proc/{proc.pid}/fd"))
    hold = subprocess.Popen(
        [
            "nsenter",
            f"--net=/run/netns/{pair.client}",
            sys.executable,
            "-c",
            # from a source port above the default range (32768-60999) and every range a
            # test narrows to: its TIME_WAIT must not take a port from the probe's count
            "import socket, time; s = socket.socket(); "
            "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); "
            f"s.bind(('', {61000 + port % 500})); s.settimeout(10); "
            f"s.connect(('{SERVER_IP}', {port})); time.sleep(30)",
        ]
    )
    try:
        deadline = time.monotonic() + 60
        while len(os.listdir(f"/proc/{proc.pid}/fd")) <= fds:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("haproxy listens but does not accept")
            time.sleep(0.05)
    finally:
        hold.kill()
        hold.wait()


def _veth(server: str, client: str, sources: int) -> list[str]:
    from pyroute2 import NetNS

    client_ips = [CLIENT_IP] + [f"10.77.0.{11 + i}" for i in range(sources - 1)]
    with NetNS(client) as ns:
        ns.link("add", ifname="tkc0", kind="veth", peer={"ifname": "tks0", "net_ns_fd": server})
        idx = ns.link_lookup(ifname="tkc0")[0]
        for ip in client_ips:
            ns.addr("add", index=idx, address=ip, prefixlen=PREFIX)
        ns.link("set", index=idx, state="up")
        ns.link("set", index=ns.link_lookup(ifname="lo")[0], state="up")
    with NetNS(server) as ns:
        idx = ns.link_lookup(ifname="tks0")[0]
        ns.addr("add", index=idx, address=SERVER_IP, prefixlen=PREFIX)
        ns.link("set", index=idx, state="up")
        ns.link("set", index=ns.link_lookup(ifname="lo")[0], state="up")
    return client_ips


def _start_haproxy(server: str, frontends: list[Frontend], tmp: Path, i: int):
    cfg = tmp / f"haproxy{i}.cfg"
    cfg.write_text(haproxy_config(frontends, SERVER_IP))
    proc = subprocess.Popen(
        ["nsenter", f"--net=/run/netns/{server}", "haproxy", "-f", str(cfg), "-db"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60  # a loaded machine (tests run side by side) is slow
    while not _listening(proc.pid, [f.port for f in frontends]):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"haproxy did not start: {proc.communicate()[1].strip()}")
        time.sleep(0.05)
    return proc


@contextmanager
def haproxy_target(frontends: list[Frontend] | list[list[Frontend]], sources: int = 1):
    """HAProxy (one process per list of frontends) in a namespace of its own, and a
    client namespace with `sources` addresses, joined by a veth pair; all removed after."""
    from pyroute2 import netns

    if not shutil.which("haproxy"):
        raise RuntimeError("haproxy is not installed")
    groups = frontends if frontends and isinstance(frontends[0], list) else [frontends]
    tag = f"tk{os.getpid() % 100_000}n{next(_names)}"
    pair = Pair(server=f"{tag}s", client=f"{tag}c")
    made: list[str] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for name in (pair.server, pair.client):
                netns.create(name)
                made.append(name)
            pair.client_ips = _veth(pair.server, pair.client, sources)
            for i, group in enumerate(groups):
                proc = _start_haproxy(pair.server, group, Path(tmp), i)  # type: ignore[arg-type]
                pair.haproxy.append(proc)
                _accepting(pair, proc, group[0].port)  # type: ignore[index]
            yield pair
    finally:
        for proc in pair.haproxy:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for name in made:
            netns.remove(name)  # the veth pair goes with its namespaces


def namespaces() -> set[str]:
    from pyroute2 import netns

    return set(netns.listnetns())
