"""The local calibration: capacity constants measured on this host by `probe --calibrate`.

Stored as TOML in the state directory (calibration.toml). `estimate` and `check` use it
in place of the built-in constants, and say so, when it was measured on the same kernel
series (major.minor) as the one running; `--const` still wins over it.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from pydantic import computed_field

from tunekit.model.base import Model

FILENAME = "calibration.toml"
CALIBRATED = ("socket_bytes", "conntrack_entry_bytes", "buffer_factor")  # a probe measures


class Calibration(Model):
    path: str
    kernel: str
    measured: str  # ISO 8601 UTC
    command: str
    connections: int
    values: dict[str, float] = {}
    ignored: str | None = None  # why it is not used here

    @computed_field  # type: ignore[prop-decorator]
    @property
    def used(self) -> bool:
        return not self.ignored

    @property
    def active(self) -> dict[str, float]:
        return {} if self.ignored else self.values

    def describe(self) -> str:
        what = ", ".join(f"{k}={v:g}" for k, v in self.values.items())
        if self.ignored:
            return f"calibration {self.path} not used: {self.ignored}"
        return (
            f"calibrated: {what} (measured by `{self.command}` on {self.measured}, "
            f"kernel {self.kernel}; {self.path})"
        )


def _series(release: str | None) -> str:
    return ".".join((release or "").split(".")[:2])


def load(state: Path, kernel: str | None) -> Calibration | None:
    """The calibration in `state`, or None. A broken file is reported, not fatal."""
    path = state / FILENAME
    try:
        from tunekit.host.procfs import read_text

        doc = tomllib.loads(read_text(path))
    except FileNotFoundError:
        return None
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        return Calibration(
            path=str(path),
            kernel="?",
            measured="?",
            command="?",
            connections=0,
            ignored=f"unreadable: {err}",
        )
    values = {
        k: float(v)
        for k, v in (doc.get("constants") or {}).items()
        if k in CALIBRATED and isinstance(v, (int, float)) and v > 0
    }
    cal = Calibration(
        path=str(path),
        kernel=str(doc.get("kernel", "?")),
        measured=str(doc.get("measured", "?")),
        command=str(doc.get("command", "?")),
        connections=int(doc.get("connections", 0) or 0),
        values=values,
    )
    if kernel and _series(cal.kernel) != _series(kernel):
        cal.ignored = f"measured on kernel {cal.kernel}, this is {kernel}"
    elif not values:
        cal.ignored = "no constants in it"
    return cal


def prepare(state: Path) -> None:
    """Make sure the calibration can be written, before a probe spends minutes measuring."""
    from tunekit.errors import NotPermitted

    try:
        state.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as err:
        raise NotPermitted(f"--state-dir {state}: cannot create it: {err.strerror or err}") from err
    if not state.is_dir() or not os.access(state, os.W_OK):
        raise NotPermitted(f"--state-dir {state}: not a writable directory")


def save(
    state: Path,
    kernel: str,
    measured: str,
    command: str,
    connections: int,
    values: dict[str, float],
) -> Path:
    import tomli_w

    from tunekit.host.rootfs import Root

    prepare(state)
    path = state / FILENAME
    new = {k: round(v, 3 if k == "buffer_factor" else 1) for k, v in values.items()}
    try:  # a run with --send keeps socket_bytes from an earlier run, and the reverse
        from tunekit.host.procfs import read_text

        earlier = tomllib.loads(read_text(path)).get("constants") or {}
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        earlier = {}
    kept = {k: v for k, v in earlier.items() if k in CALIBRATED and isinstance(v, (int, float))}
    doc = {
        "kernel": kernel,
        "measured": measured,
        "command": command,
        "connections": connections,
        "constants": {**kept, **new},
    }
    with Root(state) as r:
        r.write(
            FILENAME,
            "# written by tunekit probe --calibrate; delete it to use the "
            "built-in constants\n" + tomli_w.dumps(doc),
        )
    return path
