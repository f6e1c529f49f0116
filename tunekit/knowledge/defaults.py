"""What a key holds at boot, before any sysctl.d file: the kernel's default, as a function
of what it depends on (RAM, CPUs, the kernel release), and what systemd sets as PID 1.

apply never writes a value below it (a drop-in is applied after systemd and after the
kernel's sizing, so a lower number there *lowers* the limit), and lint names any line that
does. Where the inputs are not known (an image without --mem-total), the answer is a range
or nothing, and says which fact is missing: never a guess presented as a fact.

Every formula was read in the kernel tree (linux-source-6.12, paths below) and checked
against the running 6.18 kernel of the development VM (24 GiB, 2 CPUs, not systemd):
tests/knowledge/test_defaults.py compares each with a fresh network namespace and with
the host's own values. The figures assume 4 KiB pages and a 64-bit kernel, as x86-64 and
most arm64 distributions build it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tunekit.knowledge.keys import Key

PAGE = 4096
LONG_MAX = 2**63 - 1
# systemd (v240+, src/core/main.c bump_file_max_and_nr_open) writes INT_MAX rounded down
# to a multiple of the pointer size, halving on EINVAL: 2147483640 is above 6.x's maximum
# (INT_MAX & ~63, fs/file.c sysctl_nr_open_max), 1073741816 is taken.
SYSTEMD_NR_OPEN = 1073741816
SYSTEMD_SOURCE = "systemd src/core/main.c bump_file_max_and_nr_open (v240+)"


@dataclass(frozen=True)
class BootContext:
    """What the boot values depend on; None where it is not known."""

    mem_total: int | None = None  # bytes: MemTotal, or --mem-total for an image
    systemd: bool | None = None  # PID 1 is systemd v240+ (it raises file-max and nr_open)
    kernel: tuple[int, ...] | None = None  # (major, minor)
    cpus: int | None = None  # possible CPUs (pid_max scales with them)
    # thash_entries= of the kernel command line (0: not given); None: the command line is
    # not known (an image), and the hash is taken as sized without it
    thash_entries: int | None = None


@dataclass(frozen=True)
class BootDefault:
    """The value at boot lies between low and high (element by element for a triple);
    None: not known at all. `missing` names the fact that would pin it down."""

    low: tuple[int, ...] | None
    high: tuple[int, ...] | None
    how: str  # how the kernel (or systemd) sets it, with where that was read
    missing: str = ""

    @property
    def exact(self) -> tuple[int, ...] | None:
        return self.low if self.low is not None and self.low == self.high else None

    def text(self) -> str:
        if self.exact is not None:
            return " ".join(f"{v:,}" for v in self.exact)
        lo, hi = (" ".join(f"{v:,}" for v in t) if t else "" for t in (self.low, self.high))
        if lo and hi:
            return f"between {lo} and {hi}"
        if hi:
            return f"up to {hi}"
        return f"at least {lo}" if lo else "an unknown value"


def _fixed(value: int | tuple[int, ...], how: str) -> BootDefault:
    t = value if isinstance(value, tuple) else (value,)
    return BootDefault(t, t, how)


def _ram(
    ctx: BootContext, f: Callable[[int], tuple[int, ...]], how: str, lo=0.9, hi=1.0
) -> BootDefault:
    """A default computed from a page count that the kernel takes early at boot, which is a
    little under MemTotal (memory in use then, reserved huge pages): [lo, hi] x MemTotal."""
    if ctx.mem_total is None:
        return BootDefault(None, None, how, "the host's RAM (--mem-total)")
    pages = ctx.mem_total // PAGE
    return BootDefault(f(int(pages * lo)), f(int(pages * hi)), how)


def _between(kernel: tuple[int, ...] | None, old: int, new: int, since: tuple[int, int]):
    """A constant that changed in `since`: (low, high) on a kernel of unknown release."""
    if kernel is None:
        return (min(old, new), max(old, new)), "the kernel release"
    return ((new, new) if kernel >= since else (old, old)), ""


# --- the keys ------------------------------------------------------------------------


def file_max(ctx: BootContext) -> BootDefault:
    kernel = _ram(
        ctx,
        lambda pages: (max(8192, pages * (PAGE // 1024) // 10),),
        "the kernel: 10% of RAM in KiB, at least NR_FILE (fs/file_table.c files_maxfiles_init)",
    )
    if ctx.systemd:
        return _fixed(LONG_MAX, f"systemd raises it to LONG_MAX at boot ({SYSTEMD_SOURCE})")
    if ctx.systemd is None:
        return BootDefault(
            kernel.low,
            (LONG_MAX,),
            kernel.how + f"; LONG_MAX if PID 1 is systemd ({SYSTEMD_SOURCE})",
            "whether the host boots systemd",
        )
    return kernel


def nr_open(ctx: BootContext) -> BootDefault:
    how = "the kernel: 1048576 (fs/file.c sysctl_nr_open)"
    if ctx.systemd:
        return _fixed(SYSTEMD_NR_OPEN, f"systemd raises it at boot ({SYSTEMD_SOURCE})")
    if ctx.systemd is None:
        return BootDefault(
            (1048576,),
            (SYSTEMD_NR_OPEN,),
            how + f"; {SYSTEMD_NR_OPEN} if PID 1 is systemd ({SYSTEMD_SOURCE})",
            "whether the host boots systemd",
        )
    return _fixed(1048576, how)


def _ehash(pages: int, thash_entries: int | None = None) -> int:
    """Entries of TCP's established hash: one per 128 KiB of low memory, rounded up to a
    power of two, at most 512Ki (net/ipv4/tcp.c tcp_init; mm/mm_init.c
    alloc_large_system_hash, which rounds the page count up to 1 MiB first). With
    thash_entries= on the command line: that, rounded up to a power of two, with no 512Ki
    cap but at most 1/16 of memory in 8-byte buckets."""
    if thash_entries:
        n = 1 << (thash_entries - 1).bit_length()
        n = min(n, pages * PAGE // 16 // 8)
        return 1 << (n.bit_length() - 1) if n > 0 else 1
    n = -(-pages // 256) * 256 >> 5
    n = max(n, PAGE // 8)  # one page of 8-byte buckets at least
    return min(1 << (n - 1).bit_length(), 512 * 1024)


_EHASH_HOW = (
    "established hash entries: one per 128 KiB of RAM, a power of two, at most 524288 "
    "(more with thash_entries= on the kernel command line)"
)


def max_orphans(ctx: BootContext) -> BootDefault:
    return _ram(
        ctx,
        lambda p: (_ehash(p, ctx.thash_entries) // 2,),
        f"the kernel: half the {_EHASH_HOW} (net/ipv4/tcp.c tcp_init)",
        lo=1.0,
        hi=1.1,  # the hash is sized from nr_kernel_pages, a little over MemTotal
    )


def tw_buckets(ctx: BootContext) -> BootDefault:
    d = _ram(
        ctx,
        lambda p: (_ehash(p, ctx.thash_entries) // 2,),
        f"the kernel: half the {_EHASH_HOW} (net/ipv4/tcp_ipv4.c tcp_set_hashinfo)",
        lo=1.0,
        hi=1.1,
    )
    # the hash has at most 512Ki entries, whatever the RAM, unless thash_entries= says more
    if d.high is not None or ctx.thash_entries:
        return d
    return BootDefault(None, (262144,), d.how, d.missing)


def syn_backlog(ctx: BootContext) -> BootDefault:
    d = _ram(
        ctx,
        lambda p: (max(128, _ehash(p) // 128),),
        f"the kernel: 1/128 of the {_EHASH_HOW}, at least 128 (tcp_ipv4.c tcp_set_hashinfo)",
        lo=1.0,
        hi=1.1,
    )
    return d if d.high is not None else BootDefault((128,), (4096,), d.how, d.missing)


def _mem_triple(divisor: int):
    def f(pages: int) -> tuple[int, ...]:
        limit = max(pages // divisor, 128)
        return (limit // 4 * 3, limit, limit // 4 * 3 * 2)

    return f


def tcp_mem(ctx: BootContext) -> BootDefault:
    return _ram(
        ctx,
        _mem_triple(16),
        "the kernel: 1/16 of free buffer pages at boot as pressure, 3/4 of it as min, "
        "twice min as max (net/ipv4/tcp.c tcp_init_mem)",
    )


def udp_mem(ctx: BootContext) -> BootDefault:
    return _ram(
        ctx,
        _mem_triple(8),
        "the kernel: 1/8 of free buffer pages at boot as pressure, 3/4 of it as min, "
        "twice min as max (net/ipv4/udp.c udp_init)",
    )


def _buffers(ctx: BootContext, middle: int, caps: tuple[int, int], floor: int, how: str):
    """tcp_rmem / tcp_wmem: PAGE_SIZE, a constant, and a max of 1/128 of the free buffer
    memory capped at `caps` (the cap grew for tcp_rmem: 6 MiB in 6.12, 32 MiB on 6.18)."""
    if ctx.mem_total is None:
        return BootDefault(
            (PAGE, middle, floor), (PAGE, middle, max(caps)), how, "the host's RAM (--mem-total)"
        )
    limit = ctx.mem_total // PAGE * 32  # nr_free_buffer_pages << (PAGE_SHIFT - 7)
    low = max(floor, min(min(caps), int(limit * 0.9)))
    high = max(floor, min(max(caps), limit))
    return BootDefault((PAGE, middle, low), (PAGE, middle, high), how)


def tcp_rmem(ctx: BootContext) -> BootDefault:
    # 6.12: max = min(6 MiB, limit); 6.18 boots with 32 MiB (measured, 24 GiB); between
    # them the release that raised it was not read, so both are possible
    caps = (6 << 20, 32 << 20)
    if ctx.kernel is not None and ctx.kernel <= (6, 12):
        caps = (6 << 20, 6 << 20)
    elif ctx.kernel is not None and ctx.kernel >= (6, 18):
        caps = (32 << 20, 32 << 20)
    return _buffers(
        ctx, 131072, caps, 131072, "the kernel: 4096 131072 and a RAM-sized max (tcp.c tcp_init)"
    )


def tcp_wmem(ctx: BootContext) -> BootDefault:
    how = "the kernel: 4096 16384 and a RAM-sized max (tcp.c tcp_init)"
    return _buffers(ctx, 16384, (4 << 20, 4 << 20), 65536, how)


def core_buffer_max(ctx: BootContext) -> BootDefault:
    (lo, hi), missing = _between(ctx.kernel, 212992, 4194304, (6, 18))
    return BootDefault(
        (lo,),
        (hi,),
        "the kernel: 212992 (include/net/sock.h SK_RMEM_MAX) until 6.17; 4 MiB since 6.18 "
        '(netdev patch "net: set net.core.rmem_max and net.core.wmem_max to 4 MB", 2025-08)',
        missing,
    )


def optmem_max(ctx: BootContext) -> BootDefault:
    if ctx.kernel is not None and ctx.kernel >= (6, 12):
        return _fixed(131072, "the kernel: 128 KiB (net/core/net_namespace.c, 6.12)")
    return BootDefault(
        (20480,),
        (131072,),
        "the kernel: 20480 on older kernels, 128 KiB on 6.12 (net/core/net_namespace.c)",
        "the kernel release",
    )


def somaxconn(ctx: BootContext) -> BootDefault:
    (lo, hi), missing = _between(ctx.kernel, 128, 4096, (5, 4))
    return BootDefault(
        (lo,),
        (hi,),
        'the kernel: SOMAXCONN, 4096 since 5.4 (commit 19f92a030ca6 "net: increase SOMAXCONN '
        'to 4096"), 128 before',
        missing,
    )


def threads_max(ctx: BootContext) -> BootDefault:
    return _ram(
        ctx,
        lambda p: (max(20, p * PAGE // (16384 * 8)),),
        "the kernel: RAM / (8 x THREAD_SIZE), THREAD_SIZE 16 KiB on x86-64 "
        "(kernel/fork.c set_max_threads)",
    )


def min_free_kbytes(ctx: BootContext) -> BootDefault:
    """At least sqrt(16 x low memory in KiB), clamped to [128, 262144]; khugepaged raises it
    where transparent huge pages are on, so only the low end is known from RAM."""
    import math

    how = (
        "the kernel: sqrt(16 x low memory in KiB), between 128 and 262144 "
        "(mm/page_alloc.c calculate_min_free_kbytes), more where transparent huge pages "
        "are on (mm/khugepaged.c set_recommended_min_free_kbytes)"
    )
    d = _ram(ctx, lambda p: (min(262144, max(128, math.isqrt(p * 4 * 16))),), how)
    return BootDefault(d.low, None, how, d.missing)


def pid_max(ctx: BootContext) -> BootDefault:
    how = "the kernel: 32768, or 1024 per possible CPU, at most 4194304 (kernel/pid.c pid_idr_init)"
    if ctx.cpus is None:
        return BootDefault((32768,), (4194304,), how, "the number of CPUs")
    return _fixed(min(4194304, max(32768, 1024 * ctx.cpus)), how)


def conntrack_buckets(ctx: BootContext) -> BootDefault:
    def buckets(pages: int) -> tuple[int, ...]:
        if pages > 4 * (1 << 30) // PAGE:
            return (262144,)
        if pages > (1 << 30) // PAGE:
            return (65536,)
        return (max(1024, pages * PAGE // 16384 // 8),)

    return _ram(
        ctx,
        buckets,
        "the kernel: 262144 buckets above 4 GiB of RAM, 65536 above 1 GiB, else RAM/16 KiB/8, "
        "and max = buckets (net/netfilter/nf_conntrack_core.c nf_conntrack_init_start)",
        lo=0.95,
    )


def inotify_watches(ctx: BootContext) -> BootDefault:
    # INOTIFY_WATCH_COST is sizeof(inotify_inode_mark) + 2 * sizeof(inode): about 1.3 KB
    # on the 6.18 VM (24 GiB: 192536); the range covers other struct sizes
    return _ram(
        ctx,
        lambda p: (min(1048576, max(8192, p // 100 * PAGE // 1312)),),
        "the kernel: 1% of RAM / the cost of a watch, from 8192 to 1048576 "
        "(fs/notify/inotify/inotify_user.c inotify_user_setup)",
        lo=0.6,
        hi=1.4,
    )


def epoll_watches(ctx: BootContext) -> BootDefault:
    return _ram(
        ctx,
        lambda p: (p // 25 * PAGE // 184,),  # EP_ITEM_COST: 184 B on the 6.18 VM
        "the kernel: 4% of RAM / EP_ITEM_COST (fs/eventpoll.c eventpoll_init)",
        lo=0.6,
        hi=1.4,
    )


def unix_dgram_qlen(ctx: BootContext) -> BootDefault:
    how = "the kernel: 10 (net/unix/af_unix.c unix_net_init)"
    if ctx.systemd:
        return _fixed(512, "systemd raises it to 512 (src/core/main.c bump_unix_max_dgram_qlen)")
    if ctx.systemd is None:
        return BootDefault((10,), (512,), how + "; 512 under systemd", "whether it boots systemd")
    return _fixed(10, how)


def constant(text: str, how: str = "the kernel's default") -> BootDefault:
    """A key whose boot value is a constant of the kernel (the catalogue's `default`)."""
    parts = text.split()
    try:
        value = tuple(int(p) for p in parts)
    except ValueError:
        return BootDefault(None, None, how)
    return BootDefault(value, value, how)


def of(key: Key, ctx: BootContext) -> BootDefault | None:
    """A key's boot value: its function of the host, else its constant, else None."""
    if key.boot is not None:
        return key.boot(ctx)
    if key.default is not None and key.shape in ("int", "triple", "range", "ints"):
        return constant(key.default, f"the kernel's default, {key.default} ({key.source})")
    return None
