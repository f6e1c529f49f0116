"""The plan over plain data: what changes, in which order, validation, boot conflicts."""

from functools import partial

import helpers
import pytest

from tunekit.errors import UsageError
from tunekit.model.check import Finding
from tunekit.model.plan import Options, RuntimeChange, build_plan, validate
from tunekit.persist.writers.sysctl_d import PATH as SYSCTL_FILE


def change(key, kind, path, old, new, reason):
    """A change as data, unchecked (as a bug elsewhere could hand one to validate)."""
    return RuntimeChange.model_construct(
        key=key, kind=kind, path=path, old=old, new=new, reason=reason
    )


def finding(key, proposed, verdict="fail", scope="netns", op="exactly"):
    return Finding(
        key=key,
        expected="",
        actual="",
        verdict=verdict,
        reason="why",
        source="src",
        scope=scope,
        proposed=proposed,
        target={"op": op, "value": proposed if proposed is not None else 1, "index": None},
    )


HOST = {
    "net.core.somaxconn": "128",
    "fs.nr_open": "1048576",
    "net.netfilter.nf_conntrack_max": "100",
    "net.netfilter.nf_conntrack_buckets": "100",
}
facts = partial(helpers.facts, preset=HOST, nofile=(1024, 4096))


def plan(findings, **opts):
    return build_plan(findings, facts(), "p", "why", "/", Options(**opts), {})


def test_only_failing_findings_change():
    p = plan(
        [
            finding("net.core.somaxconn", 4096),
            finding("net.ipv4.tcp_max_syn_backlog", None, verdict="pass"),
        ]
    )
    assert [(c.key, c.old, c.new) for c in p.changes] == [("net.core.somaxconn", "128", "4096")]


def test_order_nr_open_first_buckets_before_max():
    p = plan(
        [
            finding("net.netfilter.nf_conntrack_max", 800),
            finding("net.core.somaxconn", 9),
            finding("net.netfilter.nf_conntrack_buckets", 200),
            finding("fs.nr_open", 2**21),
        ]
    )
    assert [c.key for c in p.changes] == [
        "fs.nr_open",
        "net.netfilter.nf_conntrack_buckets",
        "net.netfilter.nf_conntrack_max",
        "net.core.somaxconn",
    ]
    assert p.changes[1].path == "sys/module/nf_conntrack/parameters/hashsize"


def test_scope_namespace_leaves_global_keys_to_the_host():
    p = plan(
        [finding("fs.nr_open", 2**21, scope="global"), finding("net.core.somaxconn", 4096)],
        scope="namespace",
    )
    assert [c.key for c in p.changes] == ["net.core.somaxconn"]
    assert any("fs.nr_open" in x and "left to the host" in x for x in p.left_alone)
    assert [f.path for f in p.files] == [SYSCTL_FILE]


def test_rlimit_with_pid_is_a_runtime_change_and_persisted():
    p = plan(
        [
            finding("rlimit.nofile.soft", 5000, scope="process"),
            finding("rlimit.nofile.hard", 5000, scope="process"),
        ],
        pid=42,
        unit="web",
    )
    assert [(c.kind, c.path, c.old, c.new) for c in p.changes] == [
        ("rlimit", "pid 42", "1024 4096", "5000 5000")
    ]
    contents = {f.path: f.content for f in p.files}
    limits = contents["etc/security/limits.d/90-tunekit.conf"]
    # persisted: never below the 524288 a systemd host gives every service at boot (PID 1
    # unknown here, so the higher boot value); the running process gets what it needs
    assert "*    hard nofile 524288" in limits and "root hard nofile 524288" in limits
    # the hard limit for every service; the soft one stays 1024 but where the workload lives
    services = contents["etc/systemd/system.conf.d/90-tunekit.conf"]
    assert "DefaultLimitNOFILE=1024:524288" in services
    assert "soft nofile" not in limits
    unit = contents["etc/systemd/system/web.service.d/90-tunekit.conf"]
    assert "LimitNOFILE=5000:524288" in unit
    assert any(
        n.startswith("rlimit.nofile: hard 524,288 persisted, not 5,000") for n in p.left_alone
    )


def test_sysctl_file_comments_every_line_with_its_reason():
    p = plan([finding("net.core.somaxconn", 4096), finding("net.ipv4.tcp_mem", [1, 2, 3])])
    text = p.files[0].content
    assert "net.core.somaxconn = 4096" in text and "net.ipv4.tcp_mem = 1 2 3" in text
    assert text.count("# why (src)") == 2 and "tunekit rollback" in text


def test_no_persist_writes_no_files():
    assert plan([finding("net.core.somaxconn", 4096)], persist=False).files == []


@pytest.mark.parametrize(
    "change, message",
    [
        (
            change(
                "net.ipv4.ip_local_port_range",
                "sysctl",
                "proc/sys/net/ipv4/ip_local_port_range",
                "",
                "2000 65000",
                "",
            ),
            "parity",
        ),
        (
            change(
                "net.ipv4.ip_local_port_range",
                "sysctl",
                "proc/sys/net/ipv4/ip_local_port_range",
                "",
                "6001 6000",
                "",
            ),
            "low < high",
        ),
        (
            change("net.ipv4.tcp_mem", "sysctl", "proc/sys/net/ipv4/tcp_mem", "", "3 2 1", ""),
            "ascending",
        ),
        (change("fs.nr_open", "sysctl", "proc/sys/fs/nr_open", "", "2147483585", ""), "maximum"),
        (
            change(
                "net.netfilter.nf_conntrack_buckets",
                "hashsize",
                "sys/module/nf_conntrack/parameters/hashsize",
                "",
                "0",
                "",
            ),
            "> 0",
        ),
        (change("rlimit.nofile", "rlimit", "pid 1", "", "10 5", ""), "above the hard limit"),
        (change("rlimit.nofile", "rlimit", "pid 1", "", "5 2000000", ""), "above fs.nr_open"),
        (
            change("net.core.somaxconn", "sysctl", "proc/sys/net/core/somaxconn", "", "1\n2", ""),
            "digits",
        ),
        (
            change("net.core.somaxconn", "sysctl", "proc/sys/../../etc/passwd", "", "1", ""),
            "outside",
        ),
        (
            change("net.core.somaxconn", "sysctl", "/proc/sys/net/core/somaxconn", "", "1", ""),
            "outside",
        ),
    ],
)
def test_validation_refuses_before_writing(change, message):
    with pytest.raises(UsageError, match=message):
        validate([change], facts())


def test_planned_nr_open_allows_a_higher_hard_limit():
    validate(
        [
            change("fs.nr_open", "sysctl", "proc/sys/fs/nr_open", "", "3000000", ""),
            change("rlimit.nofile", "rlimit", "pid 1", "", "5 2000000", ""),
        ],
        facts(),
    )
