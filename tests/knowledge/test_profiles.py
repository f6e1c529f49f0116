"""Loading, validating and inheriting profiles."""

from pathlib import Path

import pytest

from tunekit.errors import UsageError
from tunekit.knowledge import profiles


@pytest.mark.parametrize(
    "name, role", [("server-1M", "server"), ("client-flood", "client"), ("host-conntrack", "host")]
)
def test_builtins_load(name, role, isolated_home):
    p = profiles.load(name)
    assert p.name == name and p.workload.role == role and p.description
    assert all(t.reason and t.source for t in p.targets)


def test_builtins_ship_with_the_package():
    assert {"server-1M", "client-flood", "host-conntrack"} <= set(
        profiles.available([profiles.builtin_dir()])
    )


def write(d: Path, name: str, text: str) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    p = d / f"{name}.toml"
    p.write_text(text)
    return p


def test_extends_overrides_workload_fields_and_targets(tmp_path):
    d = tmp_path / "p"
    write(
        d,
        "base",
        '[workload]\nrole = "server"\nconnections = 1000\nrate = 5\n'
        '[[targets]]\nkey = "net.core.somaxconn"\nvalue = 100\nreason = "r"\nsource = "s"\n',
    )
    write(
        d,
        "child",
        'extends = "base"\n[workload]\nconnections = 2000\n'
        '[[targets]]\nkey = "net.core.somaxconn"\nvalue = 200\nreason = "r2"\nsource = "s"\n',
    )
    p = profiles.load("child", [d])
    assert p.workload.connections == 2000 and p.workload.rate == 5
    assert [(t.key, t.value) for t in p.targets] == [("net.core.somaxconn", 200)]


def test_extends_cycle_is_reported(tmp_path):
    d = tmp_path / "p"
    write(d, "a", 'extends = "b"\n')
    write(d, "b", 'extends = "a"\n')
    with pytest.raises(UsageError, match="cycle"):
        profiles.load("a", [d])


def test_later_directory_wins(tmp_path):
    first, second = tmp_path / "1", tmp_path / "2"
    write(first, "x", "[workload]\nconnections = 1\n")
    write(second, "x", "[workload]\nconnections = 2\n")
    assert profiles.load("x", [first, second]).workload.connections == 2


def test_user_profiles_come_from_home(isolated_home):
    write(
        isolated_home / ".config/tunekit/profiles",
        "server-1M",
        'extends = "client-flood"\n[workload]\nconnections = 7\n',
    )
    # The user's server-1M shadows the built-in; extends still finds the built-in client-flood.
    p = profiles.load("server-1M")
    assert p.workload.connections == 7 and p.workload.role == "client"


@pytest.mark.parametrize(
    "text, message",
    [
        ("[workload\n", "invalid TOML"),
        ("[workload]\nconnections = 0\n", "workload.connections"),
        ('[workload]\nconnections = 5\nrole = "router"\n', "workload.role"),
        ("[workload]\nconnections = 5\nbogus = 1\n", "workload.bogus"),
        (
            '[workload]\nconnections = 5\n[[targets]]\nkey = "net/../../etc/passwd"\nvalue = 1\n'
            'reason = "r"\nsource = "s"\n',
            "is not a sysctl name",
        ),
        (
            '[workload]\nconnections = 5\n[[targets]]\nkey = "rlimit.stack"\nvalue = 1\n'
            'reason = "r"\nsource = "s"\n',
            "unknown limit",
        ),
        (
            '[workload]\nconnections = 5\n[[targets]]\nkey = "net.ipv4.tcp_mem"\nvalue = 1\n'
            'reason = "r"\nsource = "s"\n',
            "list of 3 integers",
        ),
        (
            '[workload]\nconnections = 5\n[[targets]]\nkey = "fs.nr_open"\nvalue = 4294967296\n'
            'reason = "r"\nsource = "s"\n',
            "outside 64..2147483584",  # fs/file.c sysctl_nr_open_min = BITS_PER_LONG,
        ),
        ('[workload]\nconnections = 5\n[[targets]]\nkey = "fs.nr_open"\nvalue = 5\n', "reason"),
        (  # one variable under two names (devinet.c): a profile cannot want both values
            '[workload]\nconnections = 5\n[[targets]]\nkey = "net.ipv4.conf.all.forwarding"\n'
            'value = 1\nreason = "r"\nsource = "s"\n[[targets]]\nkey = "net.ipv4.ip_forward"\n'
            'value = 0\nreason = "r"\nsource = "s"\n',
            "is the same setting",
        ),
    ],
)
def test_invalid_profiles_name_the_file_and_the_field(tmp_path, text, message):
    path = write(tmp_path, "bad", text)
    with pytest.raises(UsageError) as err:
        profiles.load(str(path))
    assert str(path) in err.value.message and message in err.value.message


@pytest.mark.parametrize("ref", ["../etc/passwd", "..", "a/b", "x..y", "/etc/passwd", "-rf", ""])
def test_path_escapes_are_refused(ref, isolated_home):
    with pytest.raises(UsageError, match="invalid profile name"):
        profiles.locate(ref)


def test_unknown_profile_lists_known_ones(isolated_home):
    with pytest.raises(UsageError) as err:
        profiles.locate("nope")
    assert "server-1M" in err.value.hint
