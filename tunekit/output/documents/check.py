"""`check --json`: the findings, the estimate behind them, and the boot-time section."""

from __future__ import annotations

from pydantic import computed_field

from tunekit.lint.report import LintFinding
from tunekit.model.base import Model
from tunekit.model.capacity import Estimate
from tunekit.model.check import Finding, Outcome, Verdict, compliant, counts, outcome, unverified
from tunekit.persist.calibration import Calibration


class BootConfig(Model):
    """check's boot-time section: lint findings on the profile's keys in what applies at
    the next boot."""

    findings: list[LintFinding]
    fails_after_reboot: bool
    unreadable: list[str]
    # targets that pass now only through a runtime value: what the next boot gives fails
    reverts: list[str] = []


class Check(Model):
    profile: str
    profile_why: str
    connections: int
    role: str
    source: str
    environment: list[str]
    findings: list[Finding]
    estimate: Estimate | None
    calibration: Calibration | None
    boot: BootConfig | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def verdict(self) -> Outcome:
        """compliant (exit 0): every target read and passed; not-compliant (exit 1): one
        fails; incomplete (exit 5): none fails, but some were not verified."""
        return outcome(self.findings)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def compliant(self) -> bool:
        return compliant(self.findings)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def unverified(self) -> list[str]:
        return unverified(self.findings)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def counts(self) -> dict[Verdict, int]:
        return counts(self.findings)  # type: ignore[return-value]
