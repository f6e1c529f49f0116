"""`estimate --json`: the estimate, the workload it was made for, and its constants."""

from __future__ import annotations

from typing import Any

from tunekit.model.capacity import Estimate
from tunekit.persist.calibration import Calibration


class EstimateCommand(Estimate):
    calibration: Calibration | None
    workload: dict[str, Any]
    workload_defaults_from: str
    source: str
    constant_sources: dict[str, str]
