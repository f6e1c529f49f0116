"""What `probe --target` connects to and from: the servers the user named, resolved without
ever widening the list, and the local source addresses it binds.

A load generator must open connections only to what its user named (their own servers):
a name that resolves to several addresses, a network, a wildcard, a broadcast or a
multicast address is refused, never expanded. Sources must be addresses of this host (in
the network namespace the probe runs in): binding another one would fail with
EADDRNOTAVAIL, which would then read as port exhaustion.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass

from tunekit.errors import UsageError
from tunekit.probe.connector import IP_BIND_ADDRESS_NO_PORT

MAX_TARGETS = 1_000  # the layout's destinations
MAX_SOURCES = 65_000
# an RFC 1123 host name: labels of letters, digits and '-', not starting or ending with '-'
_HOSTNAME = re.compile(r"^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+$")


@dataclass(frozen=True)
class Target:
    typed: str  # as the user wrote it
    address: str  # the one IPv4 address it resolves to
    port: int

    @property
    def endpoint(self) -> tuple[str, int]:
        return (self.address, self.port)

    @property
    def label(self) -> str:
        return f"{self.address}:{self.port}"


def split_list(text: str) -> list[str]:
    """'a:1, b:2' -> ['a:1', 'b:2'] (commas, optional spaces)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def _refuse_address(addr: ipaddress.IPv4Address, typed: str) -> None:
    if addr.is_unspecified or addr.is_multicast or addr == ipaddress.IPv4Address("255.255.255.255"):
        raise UsageError(
            f"--target {typed}: {addr} is not one server",
            "give the unicast address of a server of yours",
        )


def _resolve(host: str, typed: str, resolve) -> str:
    try:
        return str(ipaddress.IPv4Address(host))
    except ValueError:
        pass
    # a name's last label never starts with a digit (no numeric top-level domain,
    # RFC 3696 2): "10.0.0.1-20" or "10.0.0" are addresses mistyped, not names
    if not _HOSTNAME.match(host) or host.rstrip(".").rsplit(".", 1)[-1][:1].isdigit():
        raise UsageError(
            f"--target {typed}: {host!r} is neither an IPv4 address nor a host name",
            "one server per target: HOST:PORT, no network, range or wildcard (IPv4 only)",
        )
    try:
        infos = resolve(host, None, socket.AF_INET, socket.SOCK_STREAM)
    except (OSError, UnicodeError) as err:
        raise UsageError(f"--target {typed}: cannot resolve {host!r}: {err}") from None
    found = sorted({info[4][0] for info in infos}, key=ipaddress.IPv4Address)
    if len(found) != 1:
        raise UsageError(
            f"--target {typed}: {host} resolves to {len(found)} addresses "
            f"({', '.join(found[:5])}{', ...' if len(found) > 5 else ''})",
            "probe connects only to what you name: give the address you mean",
        )
    return found[0]


def parse_targets(items: list[str], resolve=socket.getaddrinfo) -> list[Target]:
    """HOST:PORT each (HOST an IPv4 address or a name that resolves to exactly one);
    refuses anything that would connect to more servers than were typed."""
    if not items:
        raise UsageError("--target: give at least one HOST:PORT")
    if len(items) > MAX_TARGETS:
        raise UsageError(f"--target: {len(items)} targets, at most {MAX_TARGETS:,}")
    out: list[Target] = []
    seen: dict[tuple[str, int], str] = {}
    for typed in items:
        host, sep, port_text = typed.rpartition(":")
        if not sep or not host or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise UsageError(
                f"--target {typed!r}: expected HOST:PORT with a port from 1 to 65535",
                "IPv4 only; e.g. --target 10.0.0.5:8080,10.0.0.6:8080",
            )
        address = _resolve(host, typed, resolve)
        _refuse_address(ipaddress.IPv4Address(address), typed)
        target = Target(typed, address, int(port_text))
        if target.endpoint in seen:
            raise UsageError(
                f"--target {typed}: the same server as {seen[target.endpoint]} ({target.label})",
                "name each server once; --conns is spread over the targets",
            )
        seen[target.endpoint] = typed
        out.append(target)
    return out


def _is_local(address: str) -> bool:
    """Can this namespace bind `address` (an address of one of its interfaces)?"""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        s.bind((address, 0))
        return True
    except OSError:
        return False
    finally:
        s.close()


def route_source(target: Target) -> str:
    """The source address the kernel's routing picks toward `target`: what an unbound
    client would use. A UDP connect() chooses it and sends nothing."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(target.endpoint)
        return s.getsockname()[0]
    except OSError as err:
        raise UsageError(
            f"--target {target.typed}: no route to {target.address}: {err.strerror}"
        ) from None
    finally:
        s.close()


def choose_sources(given: list[str] | int | None, host_addresses: list[str]) -> list[str]:
    """The source addresses to bind: the list given (each an address of this host), or the
    first N of this host's non-loopback IPv4 addresses in address order. [] means: none
    given, each target gets the address its route picks (see pairs)."""
    if given is None:
        return []
    ordered = sorted(set(host_addresses), key=ipaddress.IPv4Address)
    if isinstance(given, int):
        if not 1 <= given <= MAX_SOURCES:
            raise UsageError(f"--source-ips {given}: expected 1 to {MAX_SOURCES:,}")
        if given > len(ordered):
            raise UsageError(
                f"--source-ips {given}: this host has {len(ordered)} non-loopback IPv4 "
                f"address(es){': ' + ', '.join(ordered[:8]) if ordered else ''}",
                "add addresses to an interface, or give fewer",
            )
        return ordered[:given]
    if not given:
        raise UsageError("--source-ips: give N or a list of this host's addresses")
    out: list[str] = []
    for text in given:
        try:
            addr = str(ipaddress.IPv4Address(text))
        except ValueError:
            raise UsageError(f"--source-ips {text!r}: not an IPv4 address") from None
        if addr in out:
            raise UsageError(f"--source-ips: {addr} is given twice")
        if not _is_local(addr):
            raise UsageError(
                f"--source-ips {addr}: not an address of this host (in this network namespace)",
                "ip -4 addr lists them",
            )
        out.append(addr)
    if len(out) > MAX_SOURCES:
        raise UsageError(f"--source-ips: {len(out):,} addresses, at most {MAX_SOURCES:,}")
    return out


def pairs(sources: list[str], targets: list[Target]) -> list[tuple[str, tuple[str, int]]]:
    """(source, destination) for every connection's round robin: each source with each
    target; without sources, each target from the address its route picks."""
    if not sources:
        return [(route_source(t), t.endpoint) for t in targets]
    return [(s, t.endpoint) for s in sources for t in targets]
