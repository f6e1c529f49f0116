"""HostFacts read from a root directory (default /) or a saved `sysctl -a`.

Live-only facts (rlimits, addresses) are read when the root is /; an image says what it
holds. The one place that turns a host into the engine's HostFacts.
"""

from __future__ import annotations

import os
import re
import resource
from pathlib import Path

from tunekit.errors import KeyNameError, NotPermitted, UsageError
from tunekit.host import procfs
from tunekit.host.procfs import read, read_text
from tunekit.knowledge import catalogue as K
from tunekit.knowledge.keys import Key
from tunekit.model.facts import HostFacts

TCP_LISTEN = "0A"  # include/net/tcp_states.h TCP_LISTEN, as /proc/net/tcp prints st
# where distributions put libsystemd-shared-NNN.so, whose name gives systemd's version
SYSTEMD_LIBDIRS = (
    "usr/lib/systemd",
    "usr/lib/x86_64-linux-gnu/systemd",
    "usr/lib/aarch64-linux-gnu/systemd",
    "usr/lib64/systemd",
    "lib/systemd",
)
_LIBSYSTEMD = re.compile(r"^libsystemd-shared-(\d{3})[.-]")
SYSTEMD_BUMPS = 240  # NEWS v240: PID 1 raises fs.file-max and fs.nr_open at boot


def _read_sysctls(root: Path, facts: HostFacts, extra: list[Key]) -> None:
    for key in K.read_by_default() + extra:
        try:
            facts.sysctls[key.name] = procfs.read_sysctl(root, key)
        except (FileNotFoundError, NotADirectoryError):
            pass  # absent on this kernel, module not loaded, or global key in a child netns
        except OSError as err:
            facts.unreadable[key.name] = err.strerror or str(err)


def listening_ports(root: Path) -> list[int] | None:
    """TCP ports in LISTEN on this host (IPv4 and IPv6), from /proc/net/tcp{,6}."""
    ports: set[int] = set()
    seen = False
    for name in ("proc/net/tcp", "proc/net/tcp6"):
        try:
            lines = read(root, name, limit=64 << 20).splitlines()[1:]
        except OSError:
            continue
        seen = True
        for line in lines:
            f = line.split()
            if len(f) > 3 and f[3] == TCP_LISTEN and ":" in f[1]:
                try:
                    ports.add(int(f[1].rsplit(":", 1)[1], 16))
                except ValueError:
                    continue
    return sorted(ports) if seen else None


def _addresses() -> list[str]:
    # psutil (getifaddrs) rather than pyroute2: importing pyroute2 costs 170-250 ms here,
    # more than `check`'s whole budget; pyroute2 is used where namespaces are built.
    import socket

    import psutil

    return sorted(
        {
            a.address
            for addrs in psutil.net_if_addrs().values()
            for a in addrs
            if a.family == socket.AF_INET and not a.address.startswith("127.")
        }
    )


def _systemd_version(root: Path) -> int | None:
    for d in SYSTEMD_LIBDIRS:
        for name in procfs.listdir(root, d):
            m = _LIBSYSTEMD.match(name)
            if m:
                return int(m[1])
    return None


def init_system(root: Path, live: bool) -> tuple[bool | None, str]:
    """(PID 1 is systemd v240+, what was seen). The live host's PID 1 is what booted it; an
    image boots its sbin/init. None where it cannot be told (an old or unknown systemd is
    not assumed either way: tunekit then treats both boot values as possible)."""
    if live:
        try:
            comm = read_text(Path("/proc/1/comm"), limit=64).strip()
        except OSError as err:
            return None, f"PID 1 unreadable ({err.strerror})"
        if comm != "systemd":
            return False, f"PID 1 is {comm[:32]!r}"
    else:
        try:
            with procfs.open_root(root) as r:
                target = r.readlink("sbin/init")
        except (OSError, NotPermitted):
            target = None
        if target is None:
            return None, "sbin/init is not a link to systemd"
        if os.path.basename(target) != "systemd":
            return False, f"sbin/init -> {target[:80]}"
    version = _systemd_version(root)
    if version is None:
        return None, "systemd of unknown version"
    if version < SYSTEMD_BUMPS:
        return None, f"systemd {version} (the boot-time bump of file limits came in v240)"
    return True, f"systemd {version}"


def possible_cpus(root: Path) -> int | None:
    """CPUs in /sys/devices/system/cpu/possible ('0-63' or '0,2-5'): what pid_max scales
    with (kernel/pid.c num_possible_cpus)."""
    try:
        text = read(root, "sys/devices/system/cpu/possible", 256)
    except OSError:
        return None
    n = 0
    for part in text.strip().split(","):
        lo, _, hi = part.partition("-")
        if not lo.isdigit() or (hi and not hi.isdigit()):
            return None
        n += int(hi or lo) - int(lo) + 1
    return n if 0 < n <= 1 << 16 else None


_TUNED_VERSION = re.compile(r"^TUNED_VERSION_(MAJOR|MINOR)\s*=\s*(\d{1,4})\s*$", re.M)


def tuned_version(root: Path) -> tuple[int, int] | None:
    """(major, minor) of the TuneD installed under `root` (its tuned/version.py in a
    Python's dist- or site-packages), None where none is found."""
    for lib in ("usr/lib", "usr/lib64", "usr/local/lib"):
        for python in procfs.listdir(root, lib):
            if not re.fullmatch(r"python3(\.\d+)?", python):
                continue
            for packages in ("dist-packages", "site-packages"):
                try:
                    text = read(root, f"{lib}/{python}/{packages}/tuned/version.py", 4096)
                except OSError:
                    continue
                found = dict(_TUNED_VERSION.findall(text))
                if "MAJOR" in found and "MINOR" in found:
                    return int(found["MAJOR"]), int(found["MINOR"])
    return None


def kernel_arg(root: Path, name: str) -> str | None:
    """NAME=VALUE on the running kernel's command line (/proc/cmdline): VALUE, "" when it
    is not given, None when the command line cannot be read."""
    try:
        words = read(root, "proc/cmdline", 1 << 16).split()
    except OSError:
        return None
    if "--" in words:  # what follows is init's, not the kernel's
        words = words[: words.index("--")]
    for word in reversed(words):  # the last one given wins, as __setup sees them
        if word.startswith(name + "="):
            return word.partition("=")[2]
    return ""


def thash_entries(root: Path) -> int | None:
    """thash_entries= on the running kernel's command line (net/ipv4/tcp.c
    set_thash_entries, kstrtoul base 0): the established hash's size; 0 when not given."""
    value = kernel_arg(root, "thash_entries")
    if value is None:
        return None
    try:
        return max(0, int(value, 0)) if value else 0
    except ValueError:
        return 0


# Where an image keeps the command line its kernel will boot with: kernel-install and
# systemd-boot (etc/kernel/cmdline; boot/loader/entries/*.conf `options`) and GRUB
# (etc/default/grub, then etc/default/grub.d/*.cfg, sourced by grub-mkconfig as shell:
# the last GRUB_CMDLINE_LINUX and GRUB_CMDLINE_LINUX_DEFAULT assigned go on the entry)
_GRUB_VARS = ("GRUB_CMDLINE_LINUX", "GRUB_CMDLINE_LINUX_DEFAULT")


def _grub_words(root: Path) -> list[str] | None:
    import shlex

    values: dict[str, str] = {}
    seen = False
    names = sorted(n for n in procfs.listdir(root, "etc/default/grub.d") if n.endswith(".cfg"))
    for rel in ["etc/default/grub", *(f"etc/default/grub.d/{n}" for n in names[:64])]:
        try:
            text = read(root, rel, 1 << 16)
        except (OSError, ValueError):
            continue
        seen = True
        for line in text.splitlines():
            try:
                words = shlex.split(line, comments=True)
            except ValueError:
                continue
            for word in words:  # `A=x B=y` on a line assigns both
                name, eq, value = word.partition("=")
                if eq and name in _GRUB_VARS:
                    # `GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX x"` appends
                    values[name] = re.sub(
                        r"\$\{?(GRUB_CMDLINE_LINUX(?:_DEFAULT)?)\}?",
                        lambda m: values.get(m[1], ""),
                        value,
                    )
    return [w for v in _GRUB_VARS for w in values.get(v, "").split()] if seen else None


def image_kernel_words(root: Path) -> list[list[str]] | None:
    """The kernel command lines an image configures (one per boot loader that says),
    None where no file says (then nothing is known of it)."""
    lines: list[list[str]] = []
    try:
        lines.append(read(root, "etc/kernel/cmdline", 1 << 16).split())
    except (OSError, ValueError):
        pass
    grub = _grub_words(root)
    if grub is not None:
        lines.append(grub)
    for name in sorted(procfs.listdir(root, "boot/loader/entries"))[:64]:
        try:
            text = read(root, f"boot/loader/entries/{name}", 1 << 16)
        except (OSError, ValueError):
            continue
        lines.append([w for line in text.splitlines() if line.startswith("options")
                      for w in line.split()[1:]])  # fmt: skip
    return lines or None


def _kstrtoul(text: str) -> int | None:
    """kstrtoul(s, 0): 0x hex, a leading 0 octal, else decimal; nothing else."""
    text = text.removesuffix("\n").removeprefix("+")
    for prefix, base, digits in (("0x", 16, "0123456789abcdef"), ("0", 8, "01234567")):
        if text.lower().startswith(prefix) and len(text) > len(prefix):
            body = text[len(prefix) :].lower()
            return int(body, base) if all(c in digits for c in body) else None
    return int(text) if text.isascii() and text.isdigit() else None


def _thash_of(words: list[str]) -> int:
    """thash_entries= as the kernel takes it: each one calls set_thash_entries, which keeps
    a value kstrtoul reads and ignores one it does not (net/ipv4/tcp.c); 0: not given."""
    if "--" in words:  # what follows is init's, not the kernel's
        words = words[: words.index("--")]
    got = 0
    for word in words:
        if word.startswith("thash_entries="):
            value = _kstrtoul(word.partition("=")[2])
            got = value if value is not None else got
    return got


def _image_kernel(root: Path) -> str | None:
    """The release an image boots: its one lib/modules/RELEASE directory, if it has one."""
    names = procfs.listdir(root, "lib/modules") or procfs.listdir(root, "usr/lib/modules")
    return names[0][:64] if len(names) == 1 else None


def _boot_facts(root: Path, live: bool, facts: HostFacts) -> None:
    facts.systemd, facts.init = init_system(root, live)
    if live:
        from tunekit.host.processes import nofile_limits

        facts.pid1_nofile_hard = nofile_limits(1)[1]
        facts.cpus = possible_cpus(root)
        facts.thash_entries = thash_entries(root)
    else:
        lines = image_kernel_words(root)
        # boot loaders that disagree: the largest hash, so that no persisted number lowers
        # what the image may boot with
        facts.thash_entries = max(map(_thash_of, lines)) if lines is not None else None
        if facts.kernel is None:
            facts.boot_kernel = _image_kernel(root)
    release = facts.kernel or facts.boot_kernel or (os.uname().release if live else None)
    for module in K.module_keys():
        facts.builtin[module] = procfs.builtin_module(root, module, release)


def check_root(root: Path) -> None:
    """A --root must look like a root filesystem: an empty or mistyped directory would
    otherwise read as a host with no settings at all (and pass)."""
    if str(root) in ("", "."):
        raise UsageError("--root is empty or '.': give the directory of a root filesystem")
    try:
        if Path(root).resolve() == Path("/"):
            return
        is_dir = Path(root).is_dir()
    except OSError as err:  # a name too long, a loop
        raise UsageError(f"--root {root}: {err.strerror}") from None
    if not is_dir:
        raise UsageError(f"--root {root}: not a directory")
    if not (procfs.is_dir(root, "proc") or procfs.is_dir(root, "etc")):
        raise UsageError(
            f"--root {root}: has neither proc nor etc: not a root filesystem",
            "point it at the top of an image or chroot",
        )


def read_facts(
    root: Path = Path("/"),
    addresses: bool = True,
    extra: list[Key] | None = None,
    listening: bool = False,
) -> HostFacts:
    """Snapshot the host under `root`. Live-only facts (rlimits, addresses) when root is /.
    addresses=False skips the interface scan (and psutil's import) when no client needs it.
    `extra`: keys a profile names besides the catalogue's own."""
    root = Path(root)
    check_root(root)
    live = root.resolve() == Path("/")
    facts = HostFacts(source="live" if live else f"root {root}")
    always = {k.name for k in K.read_by_default()}
    _read_sysctls(root, facts, [k for k in extra or [] if k.name not in always])
    facts.kernel = facts.sysctls.get(K.OSRELEASE.name)
    # only a client's wide port range needs them; /proc/net/tcp lists every socket, and on
    # a server holding a million connections it is a hundred megabytes
    facts.listening = listening_ports(root) if listening else None
    mem = procfs.meminfo(root)
    facts.mem_total, facts.mem_available = mem.get("MemTotal"), mem.get("MemAvailable")
    facts.modules, _ = procfs.modules(root)
    facts.cap_sys_resource = procfs.cap_sys_resource(root)
    facts.proc_sys_writable = procfs.proc_sys_writable(root)
    # Global net keys such as tcp_mem are hidden inside a non-initial network namespace
    # (measured on 6.18), so their absence next to a present per-namespace tcp_rmem marks a
    # child netns; an empty or partial proc/sys under a root is no evidence either way.
    if procfs.is_dir(root, "proc/sys/net/ipv4") and K.TCP_RMEM.name in facts.sysctls:
        facts.child_netns = K.TCP_MEM.name not in facts.sysctls
    facts.counters.update(procfs.tcpext(root))
    _boot_facts(root, live, facts)
    try:
        facts.counters["files_allocated"] = int(procfs.read_sysctl(root, K.FILE_NR).split()[0])
    except (OSError, ValueError, IndexError):
        pass
    count = facts.int_value(K.CONNTRACK_COUNT.name)
    if count is not None:
        facts.counters["conntrack_count"] = count
    if live:
        facts.page_size = os.sysconf("SC_PAGE_SIZE")
        facts.nofile = resource.getrlimit(resource.RLIMIT_NOFILE)
        facts.nofile_of = f"this process (pid {os.getpid()})"
        facts.addresses = _addresses() if addresses else None
    else:
        facts.notes.append("rlimits and addresses are not read from a root directory")
    return facts


def read_snapshot(path: Path, mem_total: int | None = None) -> HostFacts:
    """Facts from a saved `sysctl -a` (lines 'key = value'); nothing else is known but the
    memory size, when the caller gives it (--mem-total)."""
    try:
        text = read_text(Path(path), limit=64 << 20)
    except OSError as err:
        raise UsageError(f"--snapshot {path}: cannot read: {err.strerror}") from err
    facts = HostFacts(source=f"snapshot {path}", modules=None, mem_total=mem_total)
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith(("#", ";")):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise UsageError(
                f"--snapshot {path}: line {number} is not 'key = value': {line[:60]!r}"
            )
        try:
            name = K.lookup(key.strip()).name
        except KeyNameError:
            raise UsageError(
                f"--snapshot {path}: line {number}: {key.strip()[:60]!r} is not a sysctl name"
            ) from None
        facts.sysctls[name] = " ".join(value.split())
    if not facts.sysctls:
        raise UsageError(f"--snapshot {path}: no 'key = value' lines")
    facts.kernel = facts.sysctls.get(K.OSRELEASE.name)
    if K.PORT_RANGE.name in facts.sysctls:
        facts.child_netns = K.TCP_MEM.name not in facts.sysctls
    facts.notes.append(
        "a sysctl snapshot holds no rlimits, addresses or listening ports"
        + ("" if mem_total else ", nor the memory size (--mem-total gives it)")
    )
    return facts
