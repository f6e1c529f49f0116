"""`export --json`: the files of one format, where they were written, and what the format
cannot say."""

from __future__ import annotations

from tunekit.export import ExportFile, Format
from tunekit.model.base import Model


class Export(Model):
    format: Format
    profile: str
    profile_why: str
    root: str  # the host the plan was made against, as `apply --dry-run` makes it
    files: list[ExportFile]
    notes: list[str]
    left_alone: list[str] = []  # the plan's: keys it would not change, and why
    unfit: list[str] = []  # why the workload cannot fit that host
    output: str | None = None  # the directory the files were written under
