"""The boot values of the keys that give capacity: the formulas read in the kernel source,
held against the real kernel (a fresh network namespace, and this host's own values where
no boot file sets them), and the facts they depend on read from a host and an image."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from helpers import require_privileges, write_tree

from tunekit.host import bootset
from tunekit.host.facts import init_system, read_facts
from tunekit.knowledge import catalogue as K
from tunekit.knowledge import defaults as D

GIB = 1 << 30


def ctx(gib: float | None = None, **kw) -> D.BootContext:
    return D.BootContext(mem_total=int(gib * GIB) if gib else None, **kw)


def inside(value: int | list[int], d: D.BootDefault) -> bool:
    nums = tuple(value) if isinstance(value, list) else (value,)
    assert d.low is not None and d.high is not None, d
    return all(lo <= v <= hi for v, lo, hi in zip(nums, d.low, d.high, strict=True))


# --- the formulas ------------------------------------------------------------------------


def test_systemd_nr_open_is_what_its_halving_loop_lands_on_below_the_kernel_maximum():
    # src/core/main.c: start at INT_MAX, round down to the pointer size, halve on EINVAL
    v = 2**31 - 1
    while True:
        v &= ~7
        if v <= K.NR_OPEN.maximum:  # fs/file.c sysctl_nr_open_max: INT_MAX & ~63
            break
        v //= 2
    assert v == D.SYSTEMD_NR_OPEN == D.nr_open(ctx(systemd=True)).exact[0]


@pytest.mark.parametrize(
    "gib, entries",
    [(0.5, 4096), (1, 8192), (4, 32768), (24, 262144), (64, 524288), (512, 524288)],
)
def test_the_established_hash_is_one_entry_per_128_kib_a_power_of_two_capped(gib, entries):
    assert D._ehash(int(gib * GIB) // D.PAGE) == entries
    assert D.max_orphans(ctx(gib)).low == (entries // 2,)


def test_what_depends_on_ram_is_unknown_without_it_and_says_so():
    for f in (D.max_orphans, D.tcp_mem, D.threads_max, D.conntrack_buckets):
        d = f(ctx())
        assert d.low is None and "--mem-total" in d.missing, f
    # the hash is capped whatever the RAM: tw_buckets has an upper bound even so
    assert D.tw_buckets(ctx()).high == (262144,)


def test_systemd_raises_file_limits_and_an_unknown_init_leaves_both_possible():
    assert D.file_max(ctx(16, systemd=True)).exact == (D.LONG_MAX,)
    kernel = D.file_max(ctx(16, systemd=False))
    assert kernel.high == (16 * GIB // 1024 // 10,)
    either = D.file_max(ctx(16))
    assert either.low == kernel.low and either.high == (D.LONG_MAX,) and either.missing
    assert D.nr_open(ctx(systemd=False)).exact == (1048576,)


def test_constants_that_changed_across_releases_follow_the_kernel():
    assert D.somaxconn(ctx(kernel=(4, 19))).exact == (128,)
    assert D.somaxconn(ctx(kernel=(6, 1))).exact == (4096,)
    assert D.somaxconn(ctx()).low == (128,) and D.somaxconn(ctx()).high == (4096,)
    assert D.core_buffer_max(ctx(kernel=(6, 12))).exact == (212992,)
    assert D.core_buffer_max(ctx(kernel=(6, 18))).exact == (4194304,)


def test_every_key_that_gives_capacity_has_a_boot_value():
    """A key tunekit would raise must say what the host has without it, or apply cannot
    know whether its number lowers it."""
    missing = [
        k.name
        for k in K.KEYS.values()
        if k.direction == "up" and k.kind == "sysctl" and D.of(k, ctx(24)) is None
    ]
    assert missing == []


# --- the real kernel -----------------------------------------------------------------------

NETNS_KEYS = [K.SOMAXCONN, K.SYN_BACKLOG, K.TW_BUCKETS, K.lookup("net.core.optmem_max")]


def test_a_fresh_network_namespace_holds_the_boot_values():
    """A new namespace starts from the kernel's defaults (tcp_sk_init, net_namespace.c),
    whatever this host was tuned to: the per-namespace formulas are measured there."""
    require_privileges()
    paths = " ".join("/" + k.proc_path for k in NETNS_KEYS)
    r = subprocess.run(["unshare", "-n", "cat", *paths.split()], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    host = read_facts(Path("/"), addresses=False).boot_context()
    for key, text in zip(NETNS_KEYS, r.stdout.split(), strict=True):
        d = D.of(key, host)
        assert d is not None and inside(int(text), d), (key.name, text, d)


HOST_KEYS = [
    K.FILE_MAX,
    K.NR_OPEN,
    K.TCP_MEM,
    K.MAX_ORPHANS,
    K.TCP_RMEM,
    K.TCP_WMEM,
    K.lookup("kernel.threads-max"),
    K.lookup("kernel.pid_max"),
    K.lookup("net.ipv4.udp_mem"),
    K.lookup("net.core.rmem_max"),
    K.lookup("fs.epoll.max_user_watches"),
]


def test_this_hosts_values_are_the_boot_values_where_no_boot_file_sets_them():
    """The global keys of the host tunekit runs on, where nothing in sysctl.d sets them
    (what a boot file or an earlier tunekit apply set is not the kernel's)."""
    facts = read_facts(Path("/"), addresses=False, extra=HOST_KEYS)
    set_at_boot = bootset.assignments(bootset.sysctl_files(Path("/")), "")
    checked = []
    for key in HOST_KEYS:
        raw = facts.sysctls.get(key.name)
        if raw is None or key.name in set_at_boot:
            continue
        d = D.of(key, facts.boot_context())
        value = [int(v) for v in raw.split()]
        assert d is not None and inside(value if len(value) > 1 else value[0], d), (
            key.name,
            raw,
            d,
        )
        checked.append(key.name)
    assert len(checked) >= 6, f"only {checked} could be compared: boot files set the rest"


def test_min_free_kbytes_is_at_least_the_square_root_rule_on_this_host():
    """calculate_min_free_kbytes gives sqrt(16 x low memory KiB); khugepaged may raise it,
    so only the low end is claimed: this host holds at least that, and the low end is
    no more than the rule applied to all of MemTotal."""
    import math

    key = K.lookup("vm.min_free_kbytes")
    facts = read_facts(Path("/"), addresses=False, extra=[key])
    d = D.of(key, facts.boot_context())
    assert d is not None and d.low is not None and d.high is None, d
    mem_kib = facts.boot_context().mem_total // 1024
    assert d.low[0] <= math.isqrt(16 * mem_kib)
    live = int(facts.sysctls[key.name])
    set_at_boot = bootset.assignments(bootset.sysctl_files(Path("/")), "")
    if key.name not in set_at_boot:
        assert live >= d.low[0], (live, d)


# --- the facts they depend on ----------------------------------------------------------------


def test_an_image_boots_systemd_when_sbin_init_links_to_it(tmp_path):
    root = write_tree(tmp_path / "img", {"usr/lib/systemd/libsystemd-shared-252.so": ""})
    (root / "sbin").mkdir()
    (root / "sbin/init").symlink_to("/lib/systemd/systemd")
    assert init_system(root, live=False) == (True, "systemd 252")
    (root / "sbin/init").unlink()
    (root / "sbin/init").symlink_to("/bin/busybox")
    assert init_system(root, live=False)[0] is False
    (root / "sbin/init").unlink()
    assert init_system(root, live=False)[0] is None, "no init: cannot tell"


def test_an_old_or_unversioned_systemd_is_not_assumed_to_raise_the_limits(tmp_path):
    root = write_tree(tmp_path / "img", {"lib/systemd/libsystemd-shared-239.so": ""})
    (root / "sbin").mkdir()
    (root / "sbin/init").symlink_to("../lib/systemd/systemd")
    systemd, seen = init_system(root, live=False)
    assert systemd is None and "239" in seen


def test_the_live_host_is_judged_by_its_pid_1():
    comm = Path("/proc/1/comm").read_text().strip()
    systemd, seen = init_system(Path("/"), live=True)
    assert (systemd is False) == (comm != "systemd"), seen


def test_thash_entries_on_the_command_line_sizes_the_established_hash(tmp_path):
    """net/ipv4/tcp.c tcp_init: with thash_entries= the 512Ki cap is gone; the hash is
    the number rounded up to a power of two, at most 1/16 of memory in 8-byte buckets
    (mm/mm_init.c alloc_large_system_hash), and the orphan and TIME_WAIT limits half of it."""
    from tunekit.host.facts import thash_entries

    big = D.BootContext(mem_total=24 << 30, thash_entries=3_000_000)
    assert D.tw_buckets(big).low == (2_097_152,) and D.max_orphans(big).high == (2_097_152,)
    small = D.BootContext(mem_total=1 << 30, thash_entries=1 << 26)  # capped by 1/16 of RAM
    assert D.max_orphans(small).low == ((1 << 30) // 16 // 8 // 2,)
    assert D.tw_buckets(D.BootContext()).high == (262144,)  # unknown RAM, no command line
    assert D.tw_buckets(D.BootContext(thash_entries=1 << 22)).high is None
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/cmdline").write_text("quiet thash_entries=0x100000 -- thash_entries=9\n")
    assert thash_entries(tmp_path) == 1 << 20
    (tmp_path / "proc/cmdline").write_text("quiet\n")
    assert thash_entries(tmp_path) == 0
