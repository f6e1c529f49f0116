"""apply never persists a limit below what the host gets at boot: on images it has never
seen (no /proc/sys, no meminfo, any init), with other boot files, and with conntrack built
in or loadable. Every case is a fake root; the per-namespace case also runs in `unshare -n`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import MEMINFO, invoke, lowered_root, require_privileges, write_tree

from tunekit.knowledge import catalogue as K
from tunekit.knowledge import defaults as D
from tunekit.model.facts import HostFacts
from tunekit.ops.apply import ApplyOptions, dry_run

SYSTEMD_LIB = {"usr/lib/systemd/libsystemd-shared-252.so": ""}


@pytest.fixture(autouse=True)
def _state_under_the_root(monkeypatch):
    monkeypatch.delenv("TUNEKIT_STATE_DIR", raising=False)


def image(path: Path, files: dict[str, str] | None = None, init: str | None = None) -> Path:
    """An image as a build pipeline has it: etc/ and no proc/sys or proc/meminfo."""
    root = write_tree(path, {"etc/hostname": "img\n", **(files or {})})
    if init is not None:
        (root / "sbin").mkdir(exist_ok=True)
        (root / "sbin/init").symlink_to(init)
    return root


def written(root: Path, **kw) -> tuple[dict[str, str], list[str]]:
    """(the sysctl.d lines the plan writes, what it says it left alone)."""
    doc = dry_run(ApplyOptions("server-1M", root=root, **kw))
    lines = {}
    for f in doc.files:
        if f.path.startswith("etc/sysctl.d/"):
            for line in f.content.splitlines():
                if line and not line.startswith("#"):
                    key, _, value = line.partition(" = ")
                    lines[key] = value
    return lines, doc.left_alone


def never_below_boot(lines: dict[str, str], ctx: D.BootContext) -> list[str]:
    """Every written line that might lower what a host of this kind gets at boot."""
    bad = []
    for name, value in lines.items():
        key = K.lookup(name)
        d = D.of(key, ctx) if key.direction == "up" and key.shape in ("int", "triple") else None
        if d is None:
            continue
        nums = [int(v) for v in value.split()]
        if d.high is None or any(n < hi for n, hi in zip(nums, d.high, strict=True)):
            bad.append(f"{name} = {value} (boot: {d.text()})")
    return bad


def test_an_unknown_image_gets_no_value_that_may_lower_its_limits(tmp_path):
    root = image(tmp_path / "img")
    lines, left = written(root)
    assert never_below_boot(lines, D.BootContext()) == []
    # nr_open: the kernel's 1048576 is already above the 1,001,024 needed
    assert K.NR_OPEN.name not in lines
    assert any(n.startswith(f"{K.NR_OPEN.name}: nothing to persist") for n in left)
    # what scales with RAM is left out, and the missing fact is named
    for key in (K.MAX_ORPHANS, K.TCP_MEM):
        assert key.name not in lines
        assert any(n.startswith(f"{key.name}: left out") and "--mem-total" in n for n in left)
    # file-max: 10% of RAM, or LONG_MAX under systemd: only LONG_MAX cannot lower it
    assert lines[K.FILE_MAX.name] == str(D.LONG_MAX)
    # above any boot value: written as the profile needs them
    assert lines[K.TW_BUCKETS.name] == "1500000" and lines[K.SOMAXCONN.name] == "10000"


def test_with_its_ram_and_systemd_the_image_gets_only_what_raises_a_limit(tmp_path):
    root = image(tmp_path / "img", SYSTEMD_LIB, init="/lib/systemd/systemd")
    lines, left = written(root, mem_total=4 << 30)
    ctx = D.BootContext(mem_total=4 << 30, systemd=True)
    assert never_below_boot(lines, ctx) == []
    assert K.FILE_MAX.name not in lines and K.NR_OPEN.name not in lines  # systemd's
    # 4 GiB: the established hash has 32768 entries, so the kernel sets 16384 orphans;
    # nr_kernel_pages is a little over MemTotal, and 36,044 pages/32 would make 65536
    assert lines[K.MAX_ORPHANS.name] == "32768"
    assert len(lines[K.TCP_MEM.name].split()) == 3


def test_without_systemd_the_kernels_own_file_max_is_the_floor(tmp_path):
    root = image(tmp_path / "img", init="/bin/busybox")
    lines, _ = written(root, mem_total=4 << 30)
    # the kernel gives 10% of 4 GiB in KiB (419,430): below the 1,251,280 needed
    assert lines[K.FILE_MAX.name] == "1251280"


def test_another_boot_file_that_lowers_a_key_is_overridden_not_trusted(tmp_path):
    root = image(tmp_path / "img", {"etc/sysctl.d/10-low.conf": f"{K.NR_OPEN.name} = 65536\n"})
    lines, _ = written(root, mem_total=8 << 30)
    # without that file the kernel's 1048576 would do; with it the image boots at 65536,
    # so tunekit writes the most the host may get at boot (systemd's, init unknown)
    assert lines[K.NR_OPEN.name] == str(D.SYSTEMD_NR_OPEN)


def test_tunekit_never_writes_below_what_the_images_own_files_set(tmp_path):
    """tunekit's 90-tunekit drop-ins are read after the image's own files, so a number
    below theirs would lower the limit at boot: sysctl.d, limits.conf and system.conf."""
    root = image(
        tmp_path / "img",
        {
            "etc/sysctl.d/50-local.conf": f"{K.SOMAXCONN.name} = 65535\n"
            f"{K.TW_BUCKETS.name} = 5000000\n{K.FIN_TIMEOUT.name} = 60\n",
            "etc/security/limits.conf": "* soft nofile 1500000\n* hard nofile 1500000\n",
            "etc/systemd/system.conf": "[Manager]\nDefaultLimitNOFILE=200000:1400000\n",
        },
    )
    doc = dry_run(ApplyOptions("server-1M", root=root))
    content = {f.path: f.content for f in doc.files}
    sysctl = content["etc/sysctl.d/90-tunekit.conf"]
    assert f"{K.SOMAXCONN.name} = 65535\n" in sysctl  # the profile needs 10000
    assert f"{K.TW_BUCKETS.name} = 5000000\n" in sysctl  # and 1500000
    assert "*    hard nofile 1500000\n" in content["etc/security/limits.d/90-tunekit.conf"]
    # services: the soft limit system.conf gives stays, and the hard is the largest
    assert (
        "DefaultLimitNOFILE=200000:1500000\n"
        in content["etc/systemd/system.conf.d/90-tunekit.conf"]
    )
    assert any(n.startswith("rlimit.nofile: hard 1,500,000, not 1,001,024") for n in doc.left_alone)


@pytest.mark.parametrize(
    "init, libsystemd, floor",
    [
        ("/lib/systemd/systemd", "usr/lib/systemd/libsystemd-shared-252.so", 524288),
        ("/sbin/openrc-init", None, 4096),  # the kernel's INR_OPEN_MAX
        (None, None, 524288),  # PID 1 unknown: the higher of the two
    ],
)
def test_a_small_workload_never_persists_a_hard_nofile_below_the_boot_one(
    tmp_path, init, libsystemd, floor
):
    """--conns 1000 needs 2024 open files: written as is, the hard limit of every login
    and service would fall from what the host gives at boot (systemd v240+: 524288;
    without systemd the kernel's 4096) to 2024."""
    root = image(tmp_path / "img", {libsystemd: ""} if libsystemd else {}, init=init)
    doc = dry_run(ApplyOptions("server-1M", root=root, conns=1000, mem_total=16 << 30))
    content = {f.path: f.content for f in doc.files}
    limits = content["etc/security/limits.d/90-tunekit.conf"]
    assert f"*    hard nofile {floor}\n" in limits and f"root hard nofile {floor}\n" in limits
    services = content.get("etc/systemd/system.conf.d/90-tunekit.conf", "")
    if init == "/sbin/openrc-init":  # no systemd to read it
        assert services == ""
        assert any("PID 1 is not systemd" in n for n in doc.left_alone), doc.left_alone
    else:
        assert f"DefaultLimitNOFILE=1024:{floor}\n" in services
    assert any(
        n.startswith(f"rlimit.nofile: hard {floor:,} persisted, not 2,024") for n in doc.left_alone
    )
    # and tunekit's lint, on the files tunekit would write, finds no limit lowered
    (root / "etc/security/limits.d").mkdir(parents=True)
    (root / "etc/systemd/system.conf.d").mkdir(parents=True)
    (root / "etc/security/limits.d/90-tunekit.conf").write_text(limits)
    (root / "etc/systemd/system.conf.d/90-tunekit.conf").write_text(services)
    r = invoke("lint", "--json", "--fail-on", "none", "--root", str(root))
    rules = {f["rule"] for f in json.loads(r.stdout)["findings"]}
    assert not rules & {"limit-lowered", "services-limit-lowered", "lowers-a-limit"}, rules


def test_a_soft_limit_everywhere_keeps_the_images_higher_soft_limit(tmp_path):
    """A profile that sets the soft limit for every session writes `* soft nofile`: never
    below the image's own soft line, and the image's hard line alone raises no soft."""
    profile = tmp_path / "wide.toml"
    profile.write_text("[workload]\nconnections = 100000\nsoft_nofile_everywhere = true\n")
    for limits, soft in (
        ("* soft nofile 1200000\n* hard nofile 1500000\n", "1200000"),
        ("* hard nofile 1500000\n", None),
    ):
        root = image(
            tmp_path / soft if soft else tmp_path / "hard", {"etc/security/limits.conf": limits}
        )
        doc = dry_run(ApplyOptions(str(profile), root=root))
        text = {f.path: f.content for f in doc.files}["etc/security/limits.d/90-tunekit.conf"]
        written = next(
            line.split()[-1] for line in text.splitlines() if line.startswith("*    soft")
        )
        assert "*    hard nofile 1500000" in text
        assert written == soft if soft else int(written) < 1500000, text


def test_an_image_that_gives_unlimited_open_files_keeps_it(tmp_path):
    """limits.conf(5): an unlimited nofile becomes fs.nr_open; systemd makes infinity the
    same. Any number tunekit wrote after them would lower it: none is written. A value
    the kernel refuses (somaxconn past INT_MAX) sets nothing, so it is no floor."""
    root = image(
        tmp_path / "img",
        {
            "etc/security/limits.conf": "* hard nofile unlimited\n",
            "etc/systemd/system.conf": "[Manager]\nDefaultLimitNOFILE=infinity\n",
            "etc/sysctl.d/50-x.conf": f"{K.SOMAXCONN.name} = 2147483648\n",
        },
    )
    doc = dry_run(ApplyOptions("server-1M", root=root))
    paths = {f.path: f.content for f in doc.files}
    assert "etc/security/limits.d/90-tunekit.conf" not in paths
    assert "etc/systemd/system.conf.d/90-tunekit.conf" not in paths
    assert f"{K.SOMAXCONN.name} = 10000\n" in paths["etc/sysctl.d/90-tunekit.conf"]
    assert sum("unlimited hard limit" in n for n in doc.left_alone) == 2


def test_a_limits_or_systemd_file_read_after_tunekits_is_named_as_a_conflict(tmp_path):
    """limits.d/99-low.conf and system.conf.d/99-low.conf sort after 90-tunekit.conf and
    win at boot; 10-early.conf comes before it and is tunekit's to override."""
    root = image(
        tmp_path / "img",
        {
            "etc/security/limits.d/99-low.conf": "* hard nofile 4096\n",
            "etc/security/limits.d/10-early.conf": "* hard nofile 4096\n",
            "etc/systemd/system.conf.d/99-low.conf": "[Manager]\nDefaultLimitNOFILE=1024:4096\n",
        },
    )
    conflicts = dry_run(ApplyOptions("server-1M", root=root)).conflicts
    assert [c.split(" sets ")[0] for c in conflicts] == [
        "/etc/security/limits.d/99-low.conf",
        "/etc/systemd/system.conf.d/99-low.conf",
    ], conflicts


def test_a_file_that_sets_less_than_the_profile_needs_is_still_raised(tmp_path):
    root = image(
        tmp_path / "img",
        {
            "etc/sysctl.d/50-local.conf": f"{K.SOMAXCONN.name} = 1024\n",
            "etc/security/limits.conf": "* hard nofile 65536\n",
        },
    )
    doc = dry_run(ApplyOptions("server-1M", root=root))
    content = {f.path: f.content for f in doc.files}
    assert f"{K.SOMAXCONN.name} = 10000\n" in content["etc/sysctl.d/90-tunekit.conf"]
    assert "*    hard nofile 1001024\n" in content["etc/security/limits.d/90-tunekit.conf"]


def test_a_live_host_lowered_below_its_boot_value_is_raised_back_to_it(tmp_path):
    root = lowered_root(tmp_path / "root")  # tcp_max_orphans 4096 on a 64 GiB host
    doc = dry_run(ApplyOptions("server-1M", 1000, root=root))
    change = next(c for c in doc.changes if c.key == K.MAX_ORPHANS.name)
    assert change.new == "262144", "half the 512Ki-entry hash of a 64 GiB host"
    text = next(f.content for f in doc.files if f.path.startswith("etc/sysctl.d/"))
    assert "262,144, not 25,000" in text, "the file says why it writes more than needed"


def test_mem_total_is_refused_where_the_root_has_its_own_meminfo(tmp_path):
    root = lowered_root(tmp_path / "root")
    r = invoke("apply", "server-1M", "--root", root, "--mem-total", "8G", "--dry-run")
    assert r.exit_code == 2 and "its own proc/meminfo" in r.stderr
    r = invoke("apply", "server-1M", "--mem-total", "8G", "--dry-run")
    assert r.exit_code == 2 and "live host" in r.stderr


# --- conntrack built in or loadable -------------------------------------------------------

CONNTRACK = {
    "net.netfilter.nf_conntrack_max": "65536",
    "net.netfilter.nf_conntrack_buckets": "65536",
    "net.netfilter.nf_conntrack_count": "10",
    "net.netfilter.nf_conntrack_tcp_timeout_time_wait": "120",
}


def conntrack_root(path: Path, loadable: bool) -> Path:
    root = lowered_root(path, **{k.replace(".", "__"): v for k, v in CONNTRACK.items()})
    files = {"sys/module/nf_conntrack/parameters/hashsize": "65536\n", "proc/meminfo": MEMINFO}
    if loadable:
        files["sys/module/nf_conntrack/initstate"] = "live\n"
        files["proc/modules"] = "nf_conntrack 200704 0 - Live 0x0000000000000000\n"
    return write_tree(root, files)


def plan_files(root: Path) -> dict[str, str]:
    doc = dry_run(ApplyOptions("host-conntrack", root=root))
    return {f.path: f.content for f in doc.files} | {"left": "\n".join(doc.left_alone)}


def test_built_in_conntrack_gets_its_buckets_in_sysctl_d_not_modprobe_d(tmp_path):
    files = plan_files(conntrack_root(tmp_path / "root", loadable=False))
    assert not any(p.startswith("etc/modprobe.d/") for p in files)
    sysctl_d = files["etc/sysctl.d/90-tunekit.conf"]
    assert f"\n{K.CONNTRACK_BUCKETS.name} = " in sysctl_d
    assert sysctl_d.index(K.CONNTRACK_BUCKETS.name + " =") < sysctl_d.index(
        K.CONNTRACK_MAX.name + " ="
    ), "buckets before max"
    assert "built into this kernel" in files["left"] and "hashsize=" in files["left"]


def test_loadable_conntrack_gets_the_module_option(tmp_path):
    files = plan_files(conntrack_root(tmp_path / "root", loadable=True))
    modprobe = files["etc/modprobe.d/tunekit-nf_conntrack.conf"]
    assert "options nf_conntrack hashsize=" in modprobe
    assert f"{K.CONNTRACK_BUCKETS.name} =" not in files["etc/sysctl.d/90-tunekit.conf"]


def test_an_image_says_built_in_through_modules_builtin(tmp_path):
    builtin = "kernel/net/netfilter/nf_conntrack.ko\nkernel/net/ipv4/tcp_bbr.ko\n"
    root = image(tmp_path / "img", {"lib/modules/6.1.0-13-amd64/modules.builtin": builtin})
    doc = dry_run(ApplyOptions("host-conntrack", root=root, mem_total=8 << 30))
    assert not any(f.path.startswith("etc/modprobe.d/") for f in doc.files)
    assert any("built into this kernel" in n for n in doc.left_alone)


def test_an_image_that_cannot_say_whether_conntrack_is_built_in_gets_both_ways(tmp_path):
    """Two kernels (one built in, one not), or no lib/modules at all: the buckets go both in
    modprobe.d and in sysctl.d, and the plan says why."""
    two = {
        "lib/modules/6.1.0-13-amd64/modules.builtin": "kernel/net/ipv4/tcp_bbr.ko\n",
        "lib/modules/6.12.0-1-amd64/modules.builtin": "kernel/net/netfilter/nf_conntrack.ko\n",
    }
    for name, files in (("two", two), ("none", {})):
        root = image(tmp_path / name, files)
        doc = dry_run(ApplyOptions("host-conntrack", root=root, mem_total=8 << 30))
        content = {f.path: f.content for f in doc.files}
        assert (
            "options nf_conntrack hashsize=" in content["etc/modprobe.d/tunekit-nf_conntrack.conf"]
        )
        assert f"\n{K.CONNTRACK_BUCKETS.name} = " in content["etc/sysctl.d/90-tunekit.conf"]
        assert any("is not known here" in n for n in doc.left_alone), name


def test_the_facts_say_built_in_as_the_kernel_shows_it(tmp_path):
    from tunekit.host.procfs import builtin_module

    root = conntrack_root(tmp_path / "a", loadable=False)
    assert builtin_module(root, "nf_conntrack", None) is True
    root = conntrack_root(tmp_path / "b", loadable=True)
    assert builtin_module(root, "nf_conntrack", None) is False
    assert builtin_module(image(tmp_path / "c"), "nf_conntrack", "6.1.0") is None


# --- the real kernel: a per-namespace key ------------------------------------------------------


def test_in_a_namespace_a_lowered_key_is_planned_back_to_its_boot_value(tmp_path):
    """tcp_max_tw_buckets is per namespace: lowered to 1000 in a fresh one, a profile that
    needs 5,000 gets the kernel's own value back (plan only: --dry-run writes nothing)."""
    require_privileges()
    profile = tmp_path / "tw.toml"
    profile.write_text(
        'name = "tw"\n[workload]\nconnections = 10\n[[targets]]\n'
        f'key = "{K.TW_BUCKETS.name}"\nvalue = 5000\nreason = "test"\nsource = "test"\n'
    )
    proc = "/" + K.TW_BUCKETS.proc_path
    script = (
        f"cat {proc} > {tmp_path}/boot && echo 1000 > {proc} && "
        f'TUNEKIT_STATE_DIR={tmp_path}/state "{sys.executable}" -m tunekit apply "{profile}" '
        f"--scope namespace --dry-run --json > {tmp_path}/plan.json"
    )
    r = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    plan = json.loads((tmp_path / "plan.json").read_text())
    boot = (tmp_path / "boot").read_text().strip()
    assert [(c["key"], c["old"], c["new"]) for c in plan["changes"]] == [
        (K.TW_BUCKETS.name, "1000", boot)
    ]
    assert int(boot) > 5000


def test_facts_of_a_plain_host_object_give_an_empty_context():
    assert HostFacts().boot_context() == D.BootContext()


def test_an_overridden_grub_command_line_gives_no_hash_size(tmp_path):
    """grub-mkconfig sources etc/default/grub as shell: the last assignment is the one on
    the boot entry, so an earlier thash_entries= that a later line replaces is not booted."""
    grub = 'GRUB_CMDLINE_LINUX="thash_entries=4194304"\nGRUB_CMDLINE_LINUX="quiet"\n'
    lines, _ = written(image(tmp_path / "img", {"etc/default/grub": grub}), mem_total=64 << 30)
    assert lines[K.TW_BUCKETS.name] == "1500000"


def test_the_boot_hard_open_files_limit_follows_pid_1():
    from tunekit.model.bootfloor import nofile_hard

    assert nofile_hard(True, "systemd 252")[0] == 524288
    assert nofile_hard(None, "unknown")[0] == 524288  # the higher of the two
    assert nofile_hard(False, "PID 1 is 'runit'")[0] == 4096
    # a live PID 1 that is no systemd: what it holds is what every process inherits
    assert nofile_hard(False, "PID 1 is 'tini'", pid1_hard=65536)[0] == 65536
    assert nofile_hard(False, "PID 1 is 'tini'", pid1_hard=1024)[0] == 1024
    # a container's systemd whose own hard limit is lower gives its services no more
    assert nofile_hard(True, "systemd 252", pid1_hard=20000)[0] == 20000
    assert nofile_hard(True, "systemd 252", pid1_hard=1 << 30)[0] == 524288


def _partial_root(path: Path) -> Path:
    """A root with a proc/sys that holds a few keys and an empty net/ipv4 (a copied tree)."""
    root = write_tree(
        path,
        {
            "etc/hostname": "img\n",
            "proc/sys/fs/nr_open": "1048576\n",
            "proc/sys/net/core/somaxconn": "4096\n",
            "proc/meminfo": "MemTotal: 16384000 kB\n",
        },
    )
    (root / "proc/sys/net/ipv4").mkdir()
    return root


def test_a_partial_proc_sys_is_no_child_namespace_and_no_key_goes_unsaid(tmp_path):
    """An empty net/ipv4 next to fs/ is no sign of a child network namespace (there
    tcp_rmem is present and only the global net keys are hidden): every target is written
    or named in "Left alone", none dropped in silence."""
    doc = dry_run(ApplyOptions("server-1M", root=_partial_root(tmp_path / "img")))
    sysctl = next(f.content for f in doc.files if f.path.startswith("etc/sysctl.d/"))
    said = sysctl + "\n".join(doc.left_alone)
    for key in (K.FILE_MAX, K.TCP_MEM, K.MAX_ORPHANS, K.NETDEV_BACKLOG):
        assert key.name in said, key.name
    assert "network namespace" not in "\n".join(doc.left_alone)


def test_fs_keys_are_seen_in_a_child_network_namespace():
    """Why check never calls an absent fs.* key hidden by a namespace: they are all there."""
    require_privileges()
    r = subprocess.run(
        ["unshare", "-n", "cat", "/proc/sys/fs/file-max", "/proc/sys/fs/nr_open"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and len(r.stdout.split()) == 2, r.stderr


def test_a_key_unreadable_under_a_root_is_persisted_like_an_absent_one(tmp_path):
    """A FIFO where somaxconn should be (read without hanging, refused as not a regular
    file): the drop-in still carries the target, and the plan says why."""
    import os

    root = _partial_root(tmp_path / "img")
    (root / "proc/sys/net/core/somaxconn").unlink()
    os.mkfifo(root / "proc/sys/net/core/somaxconn")
    doc = dry_run(ApplyOptions("server-1M", root=root))
    sysctl = next(f.content for f in doc.files if f.path.startswith("etc/sysctl.d/"))
    assert f"{K.SOMAXCONN.name} = 10000\n" in sysctl
    assert any("not readable" in n and K.SOMAXCONN.name in n for n in doc.left_alone)


def test_an_exact_target_below_the_boot_value_is_not_persisted_and_says_so(tmp_path):
    """`exactly 64` for nr_open would lower it: not written, and not called 'at least'."""
    profile = tmp_path / "p.toml"
    target = '[[targets]]\nkey = "{}"\nop = "exactly"\nvalue = {}\nreason = "t"\nsource = "t"\n'
    profile.write_text(
        'name = "p"\n[workload]\nrole = "server"\nconnections = 100\n\n'
        + target.format(K.NR_OPEN.name, 64)
    )
    root = image(tmp_path / "img")
    doc = dry_run(ApplyOptions(str(profile), root=root, mem_total=16 << 30))
    assert not any(K.NR_OPEN.name in f.content for f in doc.files)
    note = next(n for n in doc.left_alone if n.startswith(K.NR_OPEN.name))
    assert "not persisted: the profile asks for 64" in note and "at least" not in note, note


@pytest.mark.parametrize(
    "rel, text",
    [
        ("etc/default/grub", 'GRUB_CMDLINE_LINUX_DEFAULT="quiet thash_entries=4194304"\n'),
        ("etc/kernel/cmdline", "root=/dev/sda1 thash_entries=0x400000\n"),
        ("boot/loader/entries/a.conf", "title A\noptions ro thash_entries=4194304\n"),
        # as grub-mkconfig sources it: a comment after the value, a later file in grub.d
        ("etc/default/grub", 'GRUB_CMDLINE_LINUX="thash_entries=4194304" # big hash\n'),
        (
            "etc/default/grub.d/50-hash.cfg",
            'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX thash_entries=020000000"\n',
        ),
        # a later value kstrtoul refuses leaves the earlier one (set_thash_entries)
        ("etc/kernel/cmdline", "thash_entries=4194304 thash_entries=4_194_304\n"),
    ],
)
def test_an_images_kernel_command_line_sizes_its_tcp_hash(tmp_path, rel, text):
    """thash_entries= on the command line the image boots with: the established hash has
    4194304 entries, so TIME_WAIT's boot limit is 2097152, above the profile's 1500000,
    and writing 1500000 would lower it (net/ipv4/tcp.c tcp_init: cnt / 2)."""
    lines, notes = written(image(tmp_path / "img", {rel: text}), mem_total=64 << 30)
    assert K.TW_BUCKETS.name not in lines
    assert any(n.startswith(K.TW_BUCKETS.name) and "2,097,152" in n for n in notes), notes
    plain, _ = written(image(tmp_path / "plain"), mem_total=64 << 30)
    assert plain[K.TW_BUCKETS.name] == "1500000"  # no command line: taken as without it
