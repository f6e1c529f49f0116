"""Shared fixtures: fake root trees and an isolated home. Factories are in helpers.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import MEMINFO, TUNED, sysctl_files, write_tree


@pytest.fixture
def tuned_root(tmp_path: Path) -> Path:
    """A fake root whose sysctls satisfy server-1M."""
    files = sysctl_files(TUNED)
    files["proc/meminfo"] = MEMINFO
    files["proc/self/status"] = "Name:\tpython\nCapEff:\t000001ffffffffff\n"
    return write_tree(tmp_path / "root", files)


@pytest.fixture
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No user profiles from the real ~/.config, and no journal from the real state dir."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("TUNEKIT_STATE_DIR", str(tmp_path / "state"))
    return home


@pytest.fixture
def haproxy_namespaces():
    """For the tests that run HAProxy and a client in namespaces of their own (servers.py):
    root, haproxy and nsenter are there (else a clear failure), and no namespace is left."""
    from helpers import require_privileges, require_tool
    from servers import namespaces

    require_privileges()
    require_tool("haproxy")
    require_tool("nsenter")
    before = namespaces()
    yield
    assert namespaces() == before, "a network namespace was left behind"
