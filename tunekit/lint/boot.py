"""check's boot-time section: what applies at the next boot, on the profile's keys.

The boot files are read and parsed (cheap); the rules are loaded and the linter run only
when one of them touches a key of the profile. On most hosts none does, and check does
not pay for loading rules.toml and compiling its conditions.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tunekit.host import confparse
from tunekit.knowledge import catalogue as K

if TYPE_CHECKING:
    from tunekit.lint.report import LintFinding

# The settings of limits.conf / ulimit and systemd that carry the open-files limit.
LIMIT_KEYS = ("nofile", "DefaultLimitNOFILE")


def boot_section(root: Path, profile: str, targets: list) -> tuple[list[LintFinding], list[str]]:
    """check's boot-time section: the findings, on the profile's keys, of what applies at
    the next boot (conflicts with the profile included). The rules are loaded only when a
    boot file touches one of those keys: on most hosts none does, and check stays fast."""
    from tunekit.host import bootset

    found = bootset.collect(root)
    inputs = [("/" + f.path, f.text, f.format) for f in found.files]
    unreadable = found.unreadable
    keys = {t.key for t in targets if t.entry.kind == "sysctl"}
    limits = any(t.entry.kind == "rlimit" for t in targets)

    def ours(key: str) -> bool:
        return K.canonical(key) in keys or (limits and key in LIMIT_KEYS)

    touched = False
    for path, text, fmt in inputs:
        parsed = confparse.parse(text, path, fmt)
        if any(ours(s.key) for s in parsed.settings) or any(ours(p.key) for p in parsed.problems):
            touched = True
            break
    if not touched:
        return [], unreadable
    from tunekit.lint.engine import lint
    from tunekit.lint.host import Host

    machine = Host.of_root(root)
    machine.modules_at_boot = found.modules_at_boot
    report = lint(inputs, machine, profile=(profile, targets), mode="boot")
    return [f for f in report.findings if ours(f.key)], unreadable
