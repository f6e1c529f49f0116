"""The host lint checks lines against: the running kernel's values (or an image's), its
release, memory and modules, and whether it is a container."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunekit.errors import KeyNameError
from tunekit.host import procfs
from tunekit.knowledge import catalogue as K
from tunekit.knowledge.keys import split_name
from tunekit.lint.rules import parse_version


@dataclass
class Host:
    """What the checks read from the host: the running kernel's values (through `read`,
    which raises FileNotFoundError for an absent key), its release, memory and modules."""

    kernel: tuple[int, ...] | None
    kernel_text: str
    mem_bytes: int | None
    container: bool = False
    read: Any = None  # callable(path under proc/sys) -> text; None: no live values
    live_source: str = "none"
    modules: set[str] | None = None  # loaded or built in (/sys/module)
    proc_modules: set[str] | None = None  # loaded as modules (/proc/modules)
    modules_at_boot: set[str] = field(default_factory=set)
    # the running kernel's build options (/proc/config.gz), None where it does not say;
    # read on first use (build_options), since only a key the kernel lacks needs them
    config: dict[str, str] | None = None
    config_reader: Any = None
    # the sysctls this host's boot files set: their live values may be those files' own,
    # so they say nothing of the kernel's default
    set_at_boot: set[str] = field(default_factory=set)
    page_size: int = 4096  # tcp_mem and udp_mem count pages; an image's is assumed 4 KiB
    hugepage_bytes: int | None = None  # /proc/meminfo Hugepagesize: vm.nr_hugepages counts them
    systemd: bool | None = None  # PID 1 (an image: its sbin/init) is systemd v240+
    cpus: int | None = None
    # callable(path under proc/sys) -> whether the file takes writes (its mode); None: unknown
    writable_mode: Any = None
    readable_mode: Any = None  # as writable_mode, for the read bits (0200: an action key)
    # per-namespace keys as a new network namespace holds them: the kernel's defaults
    # (host/freshns.py); filled by load_fresh on the live host
    fresh: dict[str, str] = field(default_factory=dict)
    # the net.* keys looked for there, and those a new namespace has (defaults or copies)
    fresh_asked: set[str] = field(default_factory=set)
    in_new_ns: set[str] = field(default_factory=set)
    can_read_fresh: bool = False
    # callable(module) -> the parameters /sys/module/MODULE/parameters lists (None: the
    # module is not loaded, or no live /sys): a loaded module's own word on its parameters
    module_params: Any = None
    module_param_value: Any = None  # callable(module, name) -> its /sys/module text, or None
    # callable(what) -> how many of it the running host has in use now (catalogue
    # `in_use`: file-handles, threads, descriptors); None where that is not read
    in_use: Any = None
    thash_entries: int | None = None  # the running kernel's command line (defaults.py)
    # callable(name) -> name= of the running kernel's command line ("" not given); None:
    # not known (an image)
    kernel_arg: Any = None
    tuned: tuple[int, int] | None = None  # the installed TuneD's (major, minor), if any
    _cache: dict = field(default_factory=dict)

    def load_fresh(self, keys: list[str]) -> None:
        """Read the kernel's defaults of these per-namespace keys in a fresh namespace."""
        if not self.can_read_fresh:
            return
        from tunekit.host import freshns

        asked = sorted({k for k in keys if k.startswith("net.")})
        got = freshns.read(asked)
        if got is not None:  # the namespace was made: what it lacks, a container lacks too
            self.fresh.update({k: v for k, v in got.items() if freshns.wanted(k)})
            self.fresh_asked.update(asked)
            self.in_new_ns.update(got)

    def boot_context(self):
        """What the keys' boot values depend on (knowledge/defaults.py), for this host."""
        from tunekit.knowledge.defaults import BootContext

        return BootContext(
            mem_total=self.mem_bytes,
            systemd=self.systemd,
            kernel=self.kernel,
            cpus=self.cpus,
            thash_entries=self.thash_entries,
        )

    def writable(self, key: str) -> bool | None:
        """False when the running kernel's file for `key` is read-only (0444), for every
        writer, root included: a write fails with EACCES."""
        return _mode(self.writable_mode, key)

    def readable(self, key: str) -> bool | None:
        """False when the running kernel's file for `key` is write-only (0200: vm.drop_caches,
        vm.compact_memory): an action done at each write, not a value the kernel keeps."""
        return _mode(self.readable_mode, key)

    def build_options(self) -> dict[str, str] | None:
        if self.config is None and self.config_reader is not None:
            self.config, self.config_reader = self.config_reader(), None
        return self.config

    def live(self, key: str) -> tuple[str, str | None]:
        """('present', text), ('absent', None) or ('unknown', None)."""
        if key in self._cache:
            return self._cache[key]
        out: tuple[str, str | None] = ("unknown", None)
        if self.read is not None and _is_name(key):
            try:
                out = ("present", " ".join(self.read(key.replace(".", "/")).split()))
            except FileNotFoundError:
                out = ("unknown", None) if self._may_appear(key) else ("absent", None)
            except OSError:
                pass
        self._cache[key] = out
        return out

    def _may_appear(self, key: str) -> bool:
        """Absent now, but present later: a device's key (udev applies it when the device
        appears) or the key of a module that is not loaded."""
        if K.DEVICE_KEY.match(key) or key.startswith(K.MOUNTED_PREFIXES):
            return True
        for prefix, module in K.MODULE_PREFIXES.items():
            if key.startswith(prefix):
                return self.modules is None or module not in self.modules
        return False

    @classmethod
    def of_root(cls, root: Path, container: bool | None = None, kernel: str | None = None) -> Host:
        has_proc = procfs.is_dir(root, "proc/sys")
        release = kernel or _read_or_none(root, K.OSRELEASE) or os.uname().release
        meminfo = procfs.meminfo(root)
        mem = meminfo.get("MemTotal")
        read = (lambda rel: procfs.read(root, "proc/sys/" + rel, 1 << 16)) if has_proc else None
        try:
            version: tuple[int, ...] | None = parse_version(release)
        except ValueError:  # an image's osrelease is not to be trusted
            version = None
        from tunekit.host.facts import init_system, possible_cpus

        live = procfs.is_live(root)
        h = cls(
            kernel=version,
            kernel_text=release.strip()[:64],
            mem_bytes=mem,
            hugepage_bytes=meminfo.get("Hugepagesize"),
            read=read,
            live_source=f"{Path(root) / 'proc/sys'}" if has_proc else "none",
            page_size=os.sysconf("SC_PAGE_SIZE") if live else 4096,
            systemd=init_system(root, live)[0],
            cpus=possible_cpus(root) if live else None,
            writable_mode=_live_mode if live else None,
            readable_mode=_live_readable if live else None,
        )
        if live:
            from tunekit.host import freshns

            h.can_read_fresh = freshns.available()
            h.in_use = _in_use
            from tunekit.host.facts import kernel_arg, thash_entries

            h.thash_entries = thash_entries(root)
            h.kernel_arg = lambda name: kernel_arg(root, name)
        from tunekit.host.facts import tuned_version

        h.tuned = tuned_version(root)  # what applies a TuneD profile on this root
        if has_proc:
            h.modules, h.proc_modules = procfs.modules(root)
            h.module_params = lambda module: _module_params(root, module)
            h.module_param_value = lambda module, name: _module_param(root, module, name)
            h.config_reader = lambda: procfs.kernel_config(root, release)
        if container is None and has_proc:
            container = procfs.in_child_netns(lambda key: procfs.read_sysctl(root, key))
        h.container = bool(container)
        return h


def _mode(check, key: str) -> bool | None:
    """What a mode check says of the key's file; None where there is none or it fails."""
    if check is None or not _is_name(key):
        return None
    try:
        return check(key.replace(".", "/"))
    except OSError:
        return None


def _is_name(key: str) -> bool:
    """A sysctl name that can be read (not a glob of a rule, not a malformed line's key)."""
    if any(c in key for c in "*?["):
        return False
    try:
        split_name(key)
    except KeyNameError:
        return False
    return True


def _in_use(what: str) -> int | None:
    """On the running host: file handles allocated (fs.file-nr's first number), threads
    (the total of /proc/loadavg's running/total), the most descriptors one process has
    open (stat of /proc/PID/fd, as status reads them)."""
    try:
        if what == "file-handles":
            return int(procfs.read(Path("/"), K.FILE_NR.proc_path, 4096).split()[0])
        if what == "threads":
            return int(procfs.read(Path("/"), "proc/loadavg", 4096).split()[3].split("/")[1])
        if what == "descriptors":
            from tunekit.host.processes import open_files

            return max((p.count for p in open_files()), default=None)
    except (OSError, ValueError, IndexError):
        return None
    return None


def _module_param(root: Path, module: str, name: str) -> str | None:
    if not re.fullmatch(r"[A-Za-z0-9_]{1,64}", module) or not re.fullmatch(r"\w{1,64}", name):
        return None
    try:
        return procfs.read(root, f"sys/module/{module}/parameters/{name}", 4096).strip()
    except (OSError, ValueError):
        return None


def _module_params(root: Path, module: str) -> set[str] | None:
    from tunekit.host.rootfs import Root

    if not re.fullmatch(r"[A-Za-z0-9_]{1,64}", module):
        return None
    try:
        with Root(root) as r:
            fd = r.open(f"sys/module/{module}/parameters", os.O_RDONLY | os.O_DIRECTORY)
            try:
                return set(os.listdir(fd))
            finally:
                os.close(fd)
    except OSError:
        return None


def _read_or_none(root: Path, key) -> str | None:
    try:
        return procfs.read_sysctl(root, key) or None
    except OSError:
        return None


def _live_mode(rel: str) -> bool:
    return bool(os.stat(Path("/proc/sys", rel)).st_mode & 0o222)


def _live_readable(rel: str) -> bool:
    return bool(os.stat(Path("/proc/sys", rel)).st_mode & 0o444)
