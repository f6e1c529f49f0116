"""The local calibration: capacity constants measured on this host by `probe --calibrate`.

Stored as TOML in the state directory (calibration.toml). `estimate` and `check` use it
in place of the built-in constants, and say so, when it was measured on the same kernel
series (major.minor) as the one running; `--const` still wins over it.
"""

from __future__ import annotations

import errno
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


# What a measurement can be on any kernel tunekit knows (an idle TCP socket is 3-5 KB of
# slab; a conntrack entry 200-400 B; the buffer correction near 1). A value outside comes
# from other load on the host freeing or taking slab during the run, not from the sockets.
PLAUSIBLE = {
    "socket_bytes": (1_000.0, 100_000.0),
    "conntrack_entry_bytes": (100.0, 10_000.0),
    "buffer_factor": (0.25, 4.0),
}


def implausible(values: dict[str, float]) -> list[str]:
    """Why each measured value cannot be right ([] when all can)."""
    out = []
    for name, value in values.items():
        low, high = PLAUSIBLE[name]
        if not low <= value <= high:
            out.append(f"{name} = {value:g} is outside {low:g}..{high:g}")
    return out


def _unreadable(path: Path, why: str) -> Calibration:
    return Calibration(
        path=str(path), kernel="?", measured="?", command="?", connections=0, ignored=why
    )


def load(state_path: Path, kernel: str | None, root: Path | None = None) -> Calibration | None:
    """The calibration in the state directory, or None. A broken, foreign or symlinked
    file is reported (ignored, with why), never used and never fatal."""
    from tunekit.errors import NotPermitted
    from tunekit.persist.state import StateDir

    path = state_path / FILENAME
    state = StateDir.open(state_path, root)
    if state is None:
        return None
    try:
        with state:
            doc = tomllib.loads(state.read(FILENAME).decode("utf-8"))
    except FileNotFoundError:
        return None
    except NotPermitted as err:
        return _unreadable(path, err.message)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError, RecursionError) as err:
        why = "a symlink: refused" if getattr(err, "errno", None) == errno.ELOOP else str(err)
        return _unreadable(path, f"unreadable: {why}")
    raw = doc.get("constants")
    raw = raw if isinstance(raw, dict) else {}
    numbers = {
        k: float(v)
        for k, v in raw.items()
        if k in CALIBRATED and isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    dropped = implausible(numbers)
    values = {k: v for k, v in numbers.items() if not implausible({k: v})}
    connections = doc.get("connections")
    cal = Calibration(
        path=str(path),
        kernel=str(doc.get("kernel", "?"))[:64],
        measured=str(doc.get("measured", "?"))[:64],
        command=str(doc.get("command", "?"))[:200],
        connections=connections if isinstance(connections, int) and 0 <= connections < 2**40 else 0,
        values=values,
    )
    if kernel and _series(cal.kernel) != _series(kernel):
        cal.ignored = f"measured on kernel {cal.kernel}, this is {kernel}"
    elif not values:
        cal.ignored = "no constants in it" + (f" ({'; '.join(dropped)})" if dropped else "")
    return cal


def prepare(state_path: Path, root: Path | None = None) -> None:
    """Make sure the calibration can be written, before a probe spends minutes measuring:
    the state directory exists and is ours (the same checks apply makes)."""
    from tunekit.persist.state import StateDir

    state = StateDir.open(state_path, root, create=True)
    if state is not None:
        state.close()


def save(
    state_path: Path,
    kernel: str,
    measured: str,
    command: str,
    connections: int,
    values: dict[str, float],
    root: Path | None = None,
) -> Path:
    """Write the calibration (atomically, in a trusted state directory). The caller has
    checked the values with implausible()."""
    import tomli_w

    from tunekit.errors import NotPermitted
    from tunekit.persist.state import StateDir

    state = StateDir.open(state_path, root, create=True)
    if state is None:  # created just now: only a race removes it
        raise NotPermitted(f"state directory {state_path} vanished")
    new = {k: round(v, 3 if k == "buffer_factor" else 1) for k, v in values.items()}
    with state:
        try:  # a run with --send keeps socket_bytes from an earlier run, and the reverse
            earlier = tomllib.loads(state.read(FILENAME).decode("utf-8")).get("constants") or {}
        except (OSError, NotPermitted, tomllib.TOMLDecodeError, UnicodeDecodeError):
            earlier = {}
        kept = {
            k: v
            for k, v in earlier.items()
            if k in CALIBRATED and isinstance(v, (int, float)) and not implausible({k: v})
        }
        doc = {
            "kernel": kernel,
            "measured": measured,
            "command": command,
            "connections": connections,
            "constants": {**kept, **new},
        }
        with state.root() as r:
            r.write(
                FILENAME,
                "# written by tunekit probe --calibrate; delete it to use the "
                "built-in constants\n" + tomli_w.dumps(doc),
            )
    return state_path / FILENAME
