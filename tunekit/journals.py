"""The apply journals in a state directory: their names and order. Kept apart from
apply.py so that `check` (which only wants the last applied profile) imports little.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

JOURNALS = "journals"
JOURNAL_RE = re.compile(r"^(\d{6})\.(pending|applied|rolled-back)\.toml$")


def journals(state_dir: Path) -> list[tuple[int, str, Path]]:
    """(number, status, path) of every journal, oldest first."""
    try:
        names = os.listdir(state_dir / JOURNALS)
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        m = JOURNAL_RE.match(name)
        if m:
            out.append((int(m.group(1)), m.group(2), state_dir / JOURNALS / name))
    # A pending journal whose number also has a later status is stale: apply was killed
    # after writing "applied" and before removing "pending". recover() removes it.
    done = {n for n, status, _ in out if status != "pending"}
    return sorted(
        (n, "stale" if status == "pending" and n in done else status, p) for n, status, p in out
    )


def last_applied_profile(state_dir: Path) -> tuple[str, Path] | None:
    """The profile of the newest applied journal (for `check` with no profile named)."""
    for _, status, path in reversed(journals(state_dir)):
        if status == "applied":
            try:
                doc = tomllib.loads(path.read_text(errors="replace"))
            except (OSError, tomllib.TOMLDecodeError):
                return None
            profile = doc.get("profile")
            return (profile, path) if isinstance(profile, str) and profile else None
    return None
