"""What every writer of a drop-in file does besides rendering it.

A writer is one kind of setting, as TuneD has one plugin per kind (tuned/plugins/
plugin_sysctl.py: apply, verify, unapply): `render` turns the plan's decisions into the
exact file, `apply` writes it atomically under the root, `verify` says whether the file
holds what was rendered, `undo` puts back what was there before. Only `render` and
`paths` differ between the kinds; export (the next room) calls `render` alone.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from tunekit.model.plan import FileWrite, Persisted

if TYPE_CHECKING:  # rootfs (ctypes) is imported where files are written, not by `check`
    from tunekit.host.rootfs import FileState, Root


def header(profile: str, what: str) -> str:
    return (
        f"# Written by tunekit for profile {profile}: {what}.\n"
        "# Undo with `tunekit rollback` (restores the previous file, or removes this one).\n"
    )


class FileWriter(ABC):
    kind = ""

    @abstractmethod
    def paths(self, unit: str | None = None) -> list[str]:
        """Every file this writer may write, relative to the root: rollback touches no other."""

    @abstractmethod
    def render(self, p: Persisted) -> list[FileWrite]:
        """The exact files for the plan's decisions (none if it has nothing of this kind)."""

    def apply(self, root: Root, fw: FileWrite, on_mkdir=None) -> None:
        """Write the file atomically, creating its directory (`on_mkdir(path)` is called
        before each mkdir, so the journal records it first)."""
        parent = fw.path.rpartition("/")[0]
        root.makedirs(parent, on_mkdir)
        root.write(fw.path, fw.content)

    def verify(self, root: Root, fw: FileWrite) -> bool:
        try:
            return root.read(fw.path) == fw.content
        except OSError:
            return False

    def undo(self, root: Root, path: str, before: FileState) -> None:
        """Put back what was at `path` before apply, and remove a killed apply's temp files."""
        try:
            root.put(path, before)
        finally:
            parent = path.rpartition("/")[0]
            if parent:
                root.clean_temps(parent)
