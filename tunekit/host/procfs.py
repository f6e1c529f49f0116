"""Reading a host or an image: files under a root directory (default /), as text.

Every read goes through here: a regular file only (a FIFO or a device is an error, never
a hang), at most READ_LIMIT bytes, and under a root other than / resolved as a chroot
would (rootfs.py), so an image's symlinks cannot make tunekit read the live host. The
procfs parsers (meminfo, netstat counters, modules) are small pure functions over text.
Reading decides nothing; the engine compares.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from tunekit.errors import NotPermitted
from tunekit.knowledge import catalogue as K
from tunekit.knowledge.keys import Key

CAP_SYS_RESOURCE = 24  # include/uapi/linux/capability.h
READ_LIMIT = 1 << 20  # no file tunekit reads is larger; a bigger one is not what it seems


def read_text(path: Path, limit: int = READ_LIMIT, strict: bool = False) -> str:
    """A regular file's text. Opened non-blocking and checked with fstat, so a FIFO or a
    device planted where a file should be is an error (EINVAL), never a hang. Bytes that
    are not UTF-8 are replaced, or raise UnicodeDecodeError when `strict`."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        data = os.read(fd, limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"larger than {limit} bytes", str(path))
    return data.decode("utf-8", errors="strict" if strict else "replace")


def check_rel(rel: str) -> str:
    """A relative path of plain components; anything else is a bug or an attack."""
    parts = rel.split("/")
    if not rel or rel.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\0" in rel:
        raise NotPermitted(f"refusing path {rel!r}: not a plain path under the root")
    return rel


def is_live(root: Path) -> bool:
    return Path(root) == Path("/")


class LiveRoot:
    """The running host's / with the two calls that readers of a Root make (open, read):
    plain opens, without rootfs's openat2 and ctypes, whose import `check` would pay for
    every boot file it reads. Any other root is a rootfs.Root."""

    path = Path("/")

    def __enter__(self) -> LiveRoot:
        return self

    def __exit__(self, *exc) -> None:
        return None

    def open(self, rel: str, flags: int) -> int:
        return os.open(Path("/", check_rel(rel)), flags | os.O_CLOEXEC)

    def read(self, rel: str, limit: int = READ_LIMIT) -> str:
        return read_text(Path("/", check_rel(rel)), limit)


def open_root(root: Path):
    """A Root to read under: the live host's own, or rootfs.Root for any other tree."""
    if is_live(root):
        return LiveRoot()
    from tunekit.host.rootfs import Root

    return Root(root)


def read(root: Path, rel: str, limit: int = READ_LIMIT) -> str:
    """A file under `root`, resolved as a chroot would (rootfs): an image's absolute link
    such as proc/sys -> /proc/sys does not make tunekit read the live host instead."""
    if is_live(root):
        return read_text(Path("/", rel), limit)
    from tunekit.host.rootfs import Root

    with Root(root) as r:
        return r.read(rel, limit)


def is_dir(root: Path, rel: str) -> bool:
    if is_live(root):
        return Path("/", rel).is_dir()
    from tunekit.host.rootfs import Root

    try:
        with Root(root) as r:
            os.close(r.open(rel, os.O_RDONLY | os.O_DIRECTORY))
        return True
    except (OSError, NotPermitted):
        return False


def listdir(root: Path, rel: str) -> list[str]:
    """Names in a directory under `root` (resolved inside it); [] if it is not there."""
    if is_live(root):
        try:
            return sorted(os.listdir(Path("/", rel)))
        except OSError:
            return []
    from tunekit.host.rootfs import Root

    try:
        with Root(root) as r:
            fd = r.open(rel, os.O_RDONLY | os.O_DIRECTORY)
            try:
                return sorted(os.listdir(fd))
            finally:
                os.close(fd)
    except (OSError, NotPermitted):
        return []


def read_sysctl(root: Path, key: Key) -> str:
    """Raw value of one key, whitespace-normalised; raises OSError as the kernel does."""
    return " ".join(read(root, key.proc_path).split())


def meminfo(root: Path = Path("/")) -> dict[str, int]:
    """/proc/meminfo in bytes; lines that are not 'Name: N [kB]' are skipped."""
    out: dict[str, int] = {}
    try:
        lines = read(root, "proc/meminfo").splitlines()
    except OSError:
        return out
    for line in lines:
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit() and len(parts[0]) < 20:
            out[name] = int(parts[0]) * (1024 if len(parts) > 1 else 1)
    return out


def symptom_counters() -> tuple[str, ...]:
    """The TcpExt counters that show a catalogued limit was hit."""
    return tuple(n for n, (_, s) in K.symptoms().items() if s.table == "TcpExt")


def tcpext(root: Path = Path("/"), names: tuple[str, ...] | None = None) -> dict[str, int]:
    """TcpExt counters from /proc/net/netstat (header line, then values line); they are
    per network namespace."""
    wanted = set(names if names is not None else symptom_counters())
    out: dict[str, int] = {}
    try:
        lines = read(root, "proc/net/netstat").splitlines()
    except OSError:
        return out
    for head, vals in zip(lines[::2], lines[1::2], strict=False):
        if head.startswith("TcpExt:"):
            for k, v in zip(head.split()[1:], vals.split()[1:], strict=False):
                if k in wanted and v.isdigit() and len(v) <= 20:
                    out[k] = int(v)
    return out


def cap_sys_resource(root: Path) -> bool | None:
    try:
        for line in read(root, "proc/self/status").splitlines():
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> CAP_SYS_RESOURCE & 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def proc_sys_writable(root: Path) -> bool | None:
    """False when /proc/sys is mounted read-only (as container runtimes do) or its keys are
    not writable to us. access() on the directory itself is meaningless for root. Under a
    root other than /, the tree's own files are judged through the root (rootfs)."""
    if not is_live(root):
        from tunekit.host.rootfs import Root

        try:
            with Root(root) as r:
                fd = r.open(K.FILE_MAX.proc_path, os.O_PATH)
                try:
                    if os.fstatvfs(fd).f_flag & os.ST_RDONLY:
                        return False
                    return bool(os.fstat(fd).st_mode & 0o222)
                finally:
                    os.close(fd)
        except (OSError, NotPermitted):
            return None
    proc_sys = Path("/proc/sys")
    try:
        if os.statvfs(proc_sys).f_flag & os.ST_RDONLY:
            return False
    except OSError:
        return None
    probe = Path("/", K.FILE_MAX.proc_path)
    return os.access(probe, os.W_OK) if probe.exists() else None


def kernel_config(root: Path, release: str) -> dict[str, str] | None:
    """The running kernel's build options (CONFIG_X -> y, m or a value) from
    /proc/config.gz (CONFIG_IKCONFIG_PROC) or boot/config-RELEASE; None when neither is
    there. Read through the root, at most 1 MiB compressed and 8 MiB of text (a gzip
    that would inflate further is cut there)."""
    import zlib

    text = None
    try:
        with open_root(root) as r:
            fd = r.open("proc/config.gz", os.O_RDONLY | os.O_NONBLOCK)
            try:
                packed = os.read(fd, 1 << 20)
            finally:
                os.close(fd)
        inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        text = inflate.decompress(packed, 8 << 20).decode("utf-8", "replace")
    except (OSError, zlib.error, ValueError):
        try:
            text = read(root, f"boot/config-{release.strip()}", 8 << 20)
        except (OSError, ValueError):
            return None
    options = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and name.startswith("CONFIG_"):
            options[name.removeprefix("CONFIG_")] = value
    return options


def modules(root: Path) -> tuple[set[str], set[str] | None]:
    """(loaded or built in: /sys/module, plus /proc/modules; loaded as modules: /proc/modules,
    None if unreadable). A module built into the kernel has a /sys/module entry (for its
    parameters) but is not in /proc/modules."""
    mods: set[str] = set()
    loadable: set[str] | None
    try:
        lines = read(root, "proc/modules").splitlines()
        loadable = {words[0] for words in map(str.split, lines) if words}
    except FileNotFoundError:
        loadable = set()  # no loadable modules: everything in /sys/module is built in
    except OSError:
        loadable = None
    mods.update(loadable or ())
    mods.update(listdir(root, "sys/module"))
    return mods, loadable


def builtin_module(root: Path, module: str, release: str | None) -> bool | None:
    """Is `module` built into the kernel (None: cannot tell)? A loaded one shows in
    /sys/module: only loadable modules have an `initstate` there (kernel/module/sysfs.c;
    measured on 6.18: nf_conntrack built in has parameters/ alone). Otherwise the
    release's modules.builtin lists the built-in ones (modules.builtin(5))."""
    if is_dir(root, f"sys/module/{module}"):
        return not _exists(root, f"sys/module/{module}/initstate")
    if not release or "/" in release or release in (".", ".."):
        return None
    for base in ("lib/modules", "usr/lib/modules"):
        try:
            text = read(root, f"{base}/{release}/modules.builtin", 4 << 20)
        except (OSError, NotPermitted):
            continue
        return any(line.rsplit("/", 1)[-1] == f"{module}.ko" for line in text.splitlines())
    return None


def _exists(root: Path, rel: str) -> bool:
    try:
        with open_root(root) as r:
            os.close(r.open(rel, os.O_PATH))
        return True
    except (OSError, NotPermitted):
        return False


def in_child_netns(read_key) -> bool | None:
    """A child network namespace has per-namespace net keys (tcp_rmem) but not the global
    ones (tcp_mem, measured on 6.18). `read_key(key)` returns text or raises OSError."""

    def present(key: Key) -> bool | None:
        try:
            read_key(key)
            return True
        except FileNotFoundError:
            return False
        except OSError:
            return None

    own, host_only = present(K.TCP_RMEM), present(K.TCP_MEM)
    if own is None or host_only is None or not own:
        return None
    return not host_only
