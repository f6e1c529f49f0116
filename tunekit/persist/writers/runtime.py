"""The running kernel: /proc/sys and /sys/module writes, and a live process's open-files
limit (prlimit). The same verbs as the file writers; nothing is rendered, the plan's
RuntimeChange is the whole of it."""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

from tunekit.knowledge import catalogue as K

if TYPE_CHECKING:
    from tunekit.host.rootfs import Root

_KERNEL_REASONS = {
    errno.EINVAL: "EINVAL: the kernel rejected the value (out of range or malformed)",
    errno.EPERM: "EPERM: the kernel does not permit this value here (inside a child network "
    "namespace some values are the host's to choose) or the file is immutable",
    errno.EACCES: "EACCES: permission denied",
    errno.EROFS: "EROFS: read-only file system",
    errno.ENOENT: "ENOENT: the key does not exist on this kernel (or its module is not loaded)",
    errno.EMLINK: "EMLINK: the file under the root has another hard link (a name elsewhere "
    "for the same file): tunekit will not write through it",
}
_RLIMIT_EPERM = (
    "EPERM: not permitted (raising a hard limit needs CAP_SYS_RESOURCE; a hard "
    f"limit above {K.NR_OPEN.name} is refused)"
)


def kernel_reason(err: OSError, rlimit: bool = False) -> str:
    """What an errno from a runtime write means, in one line."""
    if rlimit and err.errno == errno.EPERM:
        return _RLIMIT_EPERM
    code = err.errno or 0
    return _KERNEL_REASONS.get(code, f"{errno.errorcode.get(code, '?')}: {err.strerror}")


def set_nofile(pid: int, value: str) -> None:
    import psutil

    soft, hard = (int(v) for v in value.split())
    try:
        psutil.Process(pid).rlimit(psutil.RLIMIT_NOFILE, (soft, hard))
    except psutil.NoSuchProcess as err:
        raise OSError(errno.ESRCH, f"pid {pid} is gone") from err
    except psutil.AccessDenied as err:
        raise OSError(errno.EPERM, "not permitted") from err


def nofile_of(pid: int) -> str:
    import psutil

    try:
        soft, hard = psutil.Process(pid).rlimit(psutil.RLIMIT_NOFILE)
    except psutil.Error as err:
        raise OSError(errno.ESRCH, f"pid {pid}: {err}") from err
    return f"{soft} {hard}"


class Runtime:
    """`kind` is sysctl (a file under the root) or rlimit (`path` is "pid N")."""

    def apply(self, root: Root, kind: str, path: str, value: str) -> None:
        if kind == "rlimit":
            set_nofile(int(path.split()[1]), value)
            return
        kept = root.write_kernel(path, value)
        if kept != " ".join(value.split()):
            raise OSError(errno.EINVAL, f"the kernel kept {kept!r} instead of {value!r}")

    def verify(self, root: Root, kind: str, path: str, value: str) -> bool:
        try:
            now = nofile_of(int(path.split()[1])) if kind == "rlimit" else root.read(path)
        except OSError:
            return False
        return now.split() == value.split()

    def undo(self, root: Root, kind: str, path: str, old: str) -> None:
        self.apply(root, kind, path, old)


RUNTIME = Runtime()
