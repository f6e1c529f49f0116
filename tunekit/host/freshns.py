"""The kernel's own defaults of per-namespace keys, read where they are: in a network
namespace made for the purpose, which the kernel fills from its defaults (tcp_sk_init,
icmp_sk_init, addrconf...) whatever the host was tuned to.

Not for every key: a new namespace copies a few values from the initial one instead of
the defaults (catalogue.FRESH_NS_COPIES: IPv4's conf/all and conf/default with
net.core.devconf_inherit_init_net = 0, tcp_rmem, tcp_wmem, the congestion control), and
the global keys are not in it at all. The namespace is a forked child's, made with
unshare(CLONE_NEWNET), which needs CAP_SYS_ADMIN; it disappears with the child. Nothing
of the host is written. Without the capability there are no fresh defaults, and lint
says less, not something else.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tunekit.knowledge import catalogue as K
from tunekit.knowledge.keys import split_name

CLONE_NEWNET = 0x40000000
_LIMIT = 4096  # a default is a short value
_MAX_KEYS = 2000


def wanted(key: str) -> bool:
    """A key whose value in a fresh namespace is the kernel's default: its own per
    namespace, not one copied from the initial namespace."""
    known = K.KEYS.get(key)
    if known is not None:
        return known.scope == "netns" and known.child == "own" and not _copied(key)
    return key.startswith("net.") and not _copied(key)


def _copied(key: str) -> bool:
    return any(key.startswith(p) for p in K.FRESH_NS_COPIES)


def read(keys: list[str]) -> dict[str, str] | None:
    """key -> its value in a new network namespace, for the keys present there (a key
    absent there is not in it). None when a namespace cannot be made (no CAP_SYS_ADMIN,
    no unshare)."""
    paths = {}
    for key in keys[:_MAX_KEYS]:
        try:
            paths[key] = "/proc/sys/" + "/".join(split_name(key))
        except ValueError:
            continue
    if not paths:
        return {}
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its own namespace, its reads, then gone
        os.close(r)
        status = 1
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            if libc.unshare(CLONE_NEWNET) == 0:
                os.write(w, json.dumps(_values(paths)).encode())
                status = 0
        finally:
            os._exit(status)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        data = f.read(_LIMIT * len(paths) + 4096)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        return None
    try:
        out = json.loads(data)
    except ValueError:
        return None
    if not isinstance(out, dict):
        return None
    return {k: v for k, v in out.items() if isinstance(v, str)}


def _values(paths: dict[str, str]) -> dict[str, str]:
    out = {}
    for key, path in paths.items():
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            text = os.read(fd, _LIMIT).decode("utf-8", "replace")
        except OSError:
            continue
        finally:
            os.close(fd)
        out[key] = " ".join(text.split())
    return out


def available() -> bool:
    return os.geteuid() == 0 and Path("/proc/self/ns/net").exists()
