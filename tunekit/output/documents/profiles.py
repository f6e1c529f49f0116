"""`profiles --json` and `profiles show --json`."""

from __future__ import annotations

from typing import Any

from tunekit.model.base import Model
from tunekit.persist.calibration import Calibration


class ProfileRow(Model):
    name: str
    role: str | None
    connections: int | None
    description: str
    path: str
    error: str | None


class Profiles(Model):
    profiles: list[ProfileRow]
    search_path: list[str]


class ShownTarget(Model):
    key: str
    op: str
    value: Any
    index: int | None
    reason: str
    source: str
    pinned: bool


class ProfileShow(Model):
    name: str
    description: str
    path: str
    extends: str | None
    workload: dict[str, Any]
    calibration: Calibration | None
    targets: list[ShownTarget]
