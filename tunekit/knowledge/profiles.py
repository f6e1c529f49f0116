"""Where profiles are, and how one is loaded: the search path, TOML, `extends`.

The built-in profiles are the top-level profiles/ directory of the repository; an
installed copy carries them as tunekit/knowledge/builtin (pyproject.toml maps one to the
other). The models they are validated into are model/profiles.py.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

from pydantic import ValidationError

from tunekit.errors import UsageError
from tunekit.model.profiles import Profile

DEFAULT_PROFILE = "server-1M"
# The built-in profile whose workload each role's defaults come from (`estimate --role`).
ROLE_PROFILES = {"server": "server-1M", "client": "client-flood", "host": "host-conntrack"}
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def builtin_dir() -> Path:
    """Installed: tunekit/knowledge/builtin (pyproject maps profiles/ there). Checkout or
    editable install: the top-level profiles/ beside the package."""
    here = Path(__file__).resolve().parent
    installed = here / "builtin"
    return installed if installed.is_dir() else here.parent.parent / "profiles"


def search_path(root: Path | None = None) -> list[Path]:
    """Directories searched for NAME.toml, lowest precedence first (later wins)."""
    home = Path(os.environ.get("HOME", "~")).expanduser()
    etc = (root or Path("/")) / "etc/tunekit/profiles"
    return [builtin_dir(), etc, home / ".config/tunekit/profiles"]


def available(dirs: list[Path] | None = None) -> dict[str, Path]:
    """Every profile name found, mapped to the file that wins. A directory that cannot be
    read is skipped (an unreadable ~/.config must not stop a root's audit)."""
    found: dict[str, Path] = {}
    for d in dirs or search_path():
        try:
            names = sorted(p for p in d.glob("*.toml")) if d.is_dir() else []
        except OSError:
            continue
        for p in names:
            found[p.stem] = p
    return found


def locate(ref: str, dirs: list[Path] | None = None) -> Path:
    """A profile name (looked up in the search path) or a path ending in .toml."""
    if ref.endswith(".toml"):
        path = Path(ref)
        try:
            is_file = path.is_file()
        except OSError as err:  # a name too long, a loop: not a file tunekit can read
            raise UsageError(f"profile file {ref[:200]!r}: {err.strerror}") from None
        if not is_file:
            raise UsageError(f"profile file not found: {ref}")
        return path
    if not _NAME_RE.match(ref) or ".." in ref:
        raise UsageError(
            f"invalid profile name {ref!r}: a name is letters, digits, '.', '_' "
            "and '-' (no '/', no '..')",
            "to load a file, give its path ending in .toml",
        )
    found = available(dirs)
    if ref not in found:
        raise UsageError(
            f"unknown profile {ref!r}", f"known profiles: {', '.join(sorted(found)) or 'none'}"
        )
    return found[ref]


MAX_EXTENDS = 32  # deeper inheritance is a mistake (or an attack), not a design


def _read_toml(path: Path) -> dict:
    from tunekit.host.procfs import read_text

    try:
        data = read_text(path, strict=True)  # a regular file: a FIFO is an error, not a hang
        return tomllib.loads(data)
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"{path}: invalid TOML: {err}") from err
    except UnicodeDecodeError as err:
        raise UsageError(
            f"{path}: not UTF-8 text (byte {err.start}): TOML files are UTF-8"
        ) from err
    except OSError as err:
        raise UsageError(f"{path}: cannot read: {err.strerror}") from err
    except RecursionError:
        raise UsageError(f"{path}: nested too deeply to be a profile") from None


def _merge(parent: dict, child: dict) -> dict:
    """Child overrides parent: workload field by field, targets by key (and index)."""
    merged = {**parent, **child}
    merged["workload"] = {**parent.get("workload", {}), **child.get("workload", {})}
    by_key = {(t.get("key"), t.get("index")): t for t in parent.get("targets", [])}
    for t in child.get("targets", []):
        by_key[(t.get("key"), t.get("index"))] = t
    merged["targets"] = list(by_key.values())
    merged["extends"] = child.get("extends")
    return merged


def _shape_ok(path: Path, data: dict) -> None:
    """Refuse, with the file named, what a merge could not even walk."""
    if not isinstance(data.get("workload", {}), dict):
        raise UsageError(f"{path}: workload must be a table ([workload])")
    targets = data.get("targets", [])
    if not isinstance(targets, list) or not all(isinstance(t, dict) for t in targets):
        raise UsageError(f"{path}: targets must be tables ([[targets]])")


def _raw(ref: str, dirs: list[Path] | None, seen: tuple[str, ...]) -> tuple[dict, Path]:
    path = locate(ref, dirs)
    data = _read_toml(path)
    _shape_ok(path, data)
    data.setdefault("name", path.stem)
    parent = data.get("extends")
    if parent is not None:
        if not isinstance(parent, str):
            raise UsageError(f"{path}: extends must be a profile name")
        if len(seen) > MAX_EXTENDS:
            raise UsageError(f"{path}: extends is more than {MAX_EXTENDS} deep")
        if parent in seen:
            raise UsageError(f"{path}: extends cycle: {' -> '.join(seen + (parent,))}")
        parent_data, _ = _raw(parent, dirs, seen + (parent,))
        parent_data.pop("description", None)
        data = _merge(parent_data, data)
    return data, path


def load(ref: str, dirs: list[Path] | None = None) -> Profile:
    """Load and validate a profile by name or path; errors name the file and the field."""
    data, path = _raw(ref, dirs, (ref,))
    data["path"] = str(path)
    try:
        return Profile.model_validate(data)
    except RecursionError:
        raise UsageError(f"{path}: nested too deeply to be a profile") from None
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "profile"
        problem = first["msg"].removeprefix("Value error, ")
        more = f" (and {err.error_count() - 1} more)" if err.error_count() > 1 else ""
        raise UsageError(f"{path}: {where}: {problem}{more}") from err
