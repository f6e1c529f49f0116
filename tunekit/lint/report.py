"""lint's findings and its report: the document `lint --json` prints."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import computed_field

from tunekit.model.base import Model

LintVerdict = Literal[
    "dead", "harmful", "units", "syntax", "no-op", "risky", "conflict", "overridden"
]
VERDICTS: tuple[LintVerdict, ...] = get_args(LintVerdict)
DEFAULT_FAIL_ON: tuple[LintVerdict, ...] = ("harmful", "dead", "syntax", "units")


class LintFinding(Model):
    file: str
    line: int
    key: str
    value: str
    verdict: LintVerdict
    why: str
    fix: str
    source: str
    rule: str
    text: str = ""


class BootChange(Model):
    """A key whose value at the next boot differs from the live one."""

    key: str
    live: str
    boot: str
    file: str
    line: int


class LintFile(Model):
    path: str
    format: str
    settings: int


class LintHost(Model):
    kernel: str
    memory_bytes: int | None
    live_values: str
    container: bool


class LintReport(Model):
    """The report, and the document `lint --json` prints."""

    mode: Literal["boot", "files"]  # boot: what applies at next boot; files: those named
    host: LintHost
    files: list[LintFile]
    findings: list[LintFinding]
    fail_on: list[LintVerdict] = list(DEFAULT_FAIL_ON)
    changes_at_boot: list[BootChange] = []
    unreadable: list[str] = []

    @computed_field  # type: ignore[prop-decorator]
    @property
    def counts(self) -> dict[LintVerdict, int]:
        out = dict.fromkeys(VERDICTS, 0)
        for f in self.findings:
            out[f.verdict] += 1
        return out

    @computed_field  # type: ignore[prop-decorator]
    @property
    def failed(self) -> bool:
        return bool(self.failing())

    @computed_field  # type: ignore[prop-decorator]
    @property
    def verdict(self) -> Literal["failed", "incomplete", "clean"]:
        """failed (exit 1): a finding at --fail-on; incomplete (exit 5): none, but a file
        that applies at boot could not be read, so its lines were not checked; clean (0)."""
        if self.failed:
            return "failed"
        return "incomplete" if self.unreadable else "clean"

    def failing(self) -> list[LintFinding]:
        return [f for f in self.findings if f.verdict in self.fail_on]
