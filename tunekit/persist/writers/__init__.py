"""One writer per kind of setting: sysctl.d, modprobe.d, limits.d, systemd (files), and the
running kernel (runtime). The plan asks each file writer to render its files, in this
order; apply, rollback and export use the same writers."""

from __future__ import annotations

from tunekit.model.plan import FileWrite, Persisted
from tunekit.persist.writers import limits_d, modprobe_d, sysctl_d, systemd
from tunekit.persist.writers.base import FileWriter

FILE_WRITERS: tuple[FileWriter, ...] = (
    sysctl_d.WRITER,
    modprobe_d.WRITER,
    limits_d.WRITER,
    systemd.WRITER,
)


def render(p: Persisted) -> list[FileWrite]:
    return [fw for w in FILE_WRITERS for fw in w.render(p)]


def paths(unit: str | None = None) -> list[str]:
    """Every file apply may write (relative to the root); rollback touches no other."""
    return [path for w in FILE_WRITERS for path in w.paths(unit)]


def writer_of(path: str) -> FileWriter:
    """The writer that owns `path` (a unit drop-in belongs to systemd)."""
    for w in FILE_WRITERS:
        if path in w.paths() or (w is systemd.WRITER and path.startswith("etc/systemd/system/")):
            return w
    raise ValueError(f"no writer owns {path!r}")
