"""The reference host lint's rule tests run on: kernel 6.18, 24 GiB, the live values a
fresh 6.18 host of that size has (read on the development VM), the removed keys absent."""

from __future__ import annotations

from tunekit.lint import engine as lint
from tunekit.lint import rules as lint_rules
from tunekit.lint.host import Host as LintHost

GIB = 1 << 30

# Anything else is unknown.
REFERENCE_LIVE = {
    "net.ipv4.tcp_max_tw_buckets": "131072",
    "net.ipv4.tcp_max_orphans": "131072",
    "net.ipv4.tcp_syncookies": "1",
    "net.ipv4.tcp_timestamps": "1",
    "net.ipv4.tcp_keepalive_time": "7200",
    "net.ipv4.tcp_fin_timeout": "60",
    "net.ipv4.ip_unprivileged_port_start": "1024",
    "net.core.somaxconn": "4096",
    "net.netfilter.nf_conntrack_buckets": "262144",
    "fs.nr_open": "1048576",
}
REFERENCE_ABSENT = {
    "net.ipv4.tcp_tw_recycle",
    "net.ipv4.tcp_no_such_key",
    "net.ipv4.netfilter.ip_conntrack_max",
    "net.sctp.rto_min",  # in Linux, but not in this (reference) build
    "fs.xfs.irix_sgid_inherit",  # in 6.12, gone from 6.18 though XFS is built
}


REFERENCE_WRITE_ONLY = {"vm.drop_caches", "vm.compact_memory"}  # mode 0200 on 6.18
# mode 0444 on 6.18 (this VM's kernel has no NMI watchdog: watchdog.c leaves it read-only)
REFERENCE_READ_ONLY = {"fs.file-nr", "kernel.nmi_watchdog"}


def reference_host(
    kernel: str = "6.18", container: bool = False, modules=frozenset(), systemd=None
) -> LintHost:
    def read(rel: str) -> str:
        key = rel.replace("/", ".")
        if key in REFERENCE_ABSENT:
            raise FileNotFoundError(rel)
        if key in REFERENCE_LIVE:
            return REFERENCE_LIVE[key]
        raise PermissionError(rel)  # unknown

    return LintHost(
        kernel=lint_rules.parse_version(kernel),
        kernel_text=kernel,
        mem_bytes=24 * GIB,
        hugepage_bytes=2 << 20,
        container=container,
        read=read,
        live_source="reference",
        modules={"nf_conntrack", "loop"},  # loop: built in (in /sys/module, not loaded)
        proc_modules={"nf_conntrack"},
        modules_at_boot=set(modules),
        systemd=systemd,
        cpus=2,
        readable_mode=lambda rel: rel.replace("/", ".") not in REFERENCE_WRITE_ONLY,
        config={"XFS_FS": "y", "NET": "y"},  # the build options /proc/config.gz would give
        # what a small host has in use (catalogue `in_use`)
        in_use={"file-handles": 1500, "threads": 300, "descriptors": 200}.get,
        writable_mode=lambda rel: rel.replace("/", ".") not in REFERENCE_READ_ONLY,
    )


def run(text: str, fmt: str = "sysctl.conf", host: LintHost | None = None, **kw) -> lint.LintReport:
    return lint.lint([("f", text, fmt)], host or reference_host(), **kw)


def rules_fired(report: lint.LintReport) -> set[str]:
    return {f.rule for f in report.findings}
