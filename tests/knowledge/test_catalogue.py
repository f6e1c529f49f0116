"""The key catalogue: the one place a key is named, every scope measured on the real kernel,
and one set of bounds that the profile loader, the plan and lint all apply."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

import pytest
from helpers import REPO, facts, require_privileges

from tunekit.errors import UsageError
from tunekit.knowledge import bounds
from tunekit.knowledge import catalogue as K
from tunekit.model.plan import RuntimeChange, validate
from tunekit.model.profiles import Target

PACKAGE = REPO / "tunekit"
# A dotted sysctl name: a top-level sysctl directory, then one or more components.
SYSCTL_NAME = re.compile(r"\b(?:net|fs|kernel|vm)\.[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")
# Document names that look like a dotted key (Documentation/.../fs.rst, net.rst).
NOT_A_KEY = re.compile(r"\.(?:rst|c|h|py|md|toml|conf)$")


def _strings(path: Path):
    """(line, text) of every string literal in a module, docstrings left out: a string
    that is a statement of its own (a docstring, or a bare string) is prose."""
    tokens = list(tokenize.generate_tokens(io.StringIO(path.read_text()).readline))
    for i, tok in enumerate(tokens):
        if tok.type not in (tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", -1)):
            continue
        before = next(
            (t for t in reversed(tokens[:i]) if t.type not in (tokenize.NL, tokenize.COMMENT)),
            None,
        )
        statement = before is None or before.type in (
            tokenize.NEWLINE,
            tokenize.INDENT,
            tokenize.DEDENT,
        )
        if not statement:
            yield tok.start[0], tok.string


def _named_keys(text: str) -> list[str]:
    names = set(K.KEYS) | set(K.ALIASES)
    slash = {k.proc_path.removeprefix("proc/sys/") for k in K.KEYS.values() if k.kind != "rlimit"}
    found = [m[0] for m in SYSCTL_NAME.finditer(text) if not NOT_A_KEY.search(m[0])]
    found += [n for n in names | slash if n in text and ("/" in n or n.startswith("rlimit."))]
    return found


def test_no_key_is_named_outside_the_knowledge_package():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if "knowledge" in path.relative_to(PACKAGE).parts:
            continue
        for line, text in _strings(path):
            for name in _named_keys(text):
                offenders.append(f"{path.relative_to(REPO)}:{line}: {name}")
    assert not offenders, "key names outside knowledge/:\n" + "\n".join(offenders)


def test_the_scan_finds_a_key_where_one_is_named(tmp_path):
    """The test above can fail: a module that names a key in code is caught, one that
    names it in its docstring is not."""
    module = tmp_path / "m.py"
    module.write_text(
        '"""Docstrings may say net.core.somaxconn."""\n'
        'KEY = "net.core.somaxconn"\n'
        'PATH = "proc/sys/fs/nr_open"\n'
        'DOC = "Documentation/admin-guide/sysctl/fs.rst"\n'
    )
    found = [n for _, text in _strings(module) for n in _named_keys(text)]
    assert found == ["net.core.somaxconn", "fs/nr_open"]


def test_every_entry_says_what_it_does_and_where_that_was_read():
    for key in K.KEYS.values():
        assert key.reason and key.source, key.name
        assert key.shape in ("int", "triple", "range", "ints", "string", "portset"), key.name
        if key.minimum is not None and key.maximum is not None:
            assert key.minimum <= key.maximum, key.name
        if key.default is not None and key.shape == "int":
            assert bounds.kernel_rejects(key, [int(key.default)]) is None, key.name


def test_the_scope_of_every_net_key_is_what_a_fresh_namespace_shows():
    """A key is per namespace if a child namespace has its own writable copy (tcp_mem, for
    one, is absent there); net.core.rmem_max and nf_conntrack_max are visible there but
    read-only (the host's value): global, with in_child read-only."""
    require_privileges()
    net_keys = [
        k for k in K.KEYS.values() if k.name.startswith("net.") and Path("/", k.proc_path).exists()
    ]
    script = (
        "import os,sys\n"
        "for p in sys.argv[1:]:\n"
        "    f = '/' + p\n"
        "    print(p, 'absent' if not os.path.exists(f) else "
        "'own' if os.stat(f).st_mode & 0o222 else 'read-only')"
    )
    out = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", script, *(k.proc_path for k in net_keys)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    seen = dict(line.split() for line in out.splitlines())
    for key in net_keys:
        if key.kind == "input":  # read-only everywhere (a count): present means its own
            seen[key.proc_path] = "own" if seen[key.proc_path] != "absent" else "absent"
        assert key.child == seen[key.proc_path], key.name
        assert key.scope == ("netns" if seen[key.proc_path] == "own" else "global"), key.name


def test_removed_keys_are_absent_and_catalogued_keys_present_on_this_kernel():
    for key in K.KEYS.values():
        if key.kind == "rlimit":
            continue
        if key.module and not Path("/sys/module", key.module).exists():
            continue
        assert Path("/", key.proc_path).exists(), key.name
    assert not Path("/proc/sys/net/ipv4/tcp_tw_recycle").exists()


def _target(value: int) -> Target:
    return Target(key=K.NR_OPEN.name, value=value, reason="r", source="s")


def test_nr_open_has_one_minimum_and_profile_plan_and_lint_agree_on_it():
    """fs/file.c: sysctl_nr_open_min = BITS_PER_LONG (64)."""
    from tunekit.lint.engine import lint
    from tunekit.lint.host import Host

    assert K.NR_OPEN.minimum == 64
    _target(64)
    with pytest.raises(ValueError, match="outside 64"):
        _target(63)

    def change(new: str) -> RuntimeChange:
        path = K.NR_OPEN.proc_path
        return RuntimeChange(
            key=K.NR_OPEN.name, kind="sysctl", path=path, old="", new=new, reason=""
        )

    validate([change("64")], facts())
    with pytest.raises(UsageError, match="below 64"):
        validate([change("63")], facts())
    host = Host(kernel=(6, 18), kernel_text="6.18", mem_bytes=None, read=None)
    ok = lint([("f", f"{K.NR_OPEN.name} = 64", "sysctl.conf")], host)
    dead = lint([("f", f"{K.NR_OPEN.name} = 63", "sysctl.conf")], host)
    assert not [f for f in ok.findings if f.verdict == "dead"]
    assert [f.verdict for f in dead.findings] == ["dead"]


def test_every_limit_status_reads_says_what_counts_against_it_and_where():
    """status has no table of keys: each of its rows comes from a key's Usage."""
    metric = re.compile(r"^[a-z][a-z0-9_]*$")
    keys = K.with_usage()
    assert {k.usage.per for k in keys} == {"host", "process", "listener", "destination"}
    for key in keys:
        u = key.usage
        assert u.resource and u.counts and u.where, key.name
        assert metric.match(u.metric) and not u.metric.endswith("_total"), key.name
        if u.per == "host":
            assert u.table and u.field, key.name
        if u.index is not None:
            assert key.shape == "triple" and len(u.elements) == 3, key.name
        if u.need:  # a need the capacity model computes
            from tunekit.model.capacity import estimate
            from tunekit.model.constants import constants
            from tunekit.model.profiles import Workload

            roles = ("server", "client", "host")
            needs = {
                n.name
                for role in roles
                for n in estimate(
                    Workload(role=role, connections=1000), facts(), constants({})
                ).needs
            }
            assert u.need in needs, (key.name, u.need)
    for name, (_, s) in K.symptoms().items():
        assert metric.match(s.metric), name
    assert all(text and meaning for _, text, meaning in K.messages())
