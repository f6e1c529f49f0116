"""`status --json`: one reading, every limit's row (model/status), the sockets by state,
the symptom counters and the kernel log's evidence. With --watch, one document per
reading (JSON Lines)."""

from __future__ import annotations

from pydantic import computed_field

from tunekit.model.base import Model
from tunekit.model.status import LogRow, Row, SocketStates, SymptomRow, Verdict

VERDICT_ORDER: tuple[Verdict, ...] = ("hit", "at-limit", "near", "ok")


class Status(Model):
    at: str  # UTC time of the reading, ISO 8601
    interval: float | None = None  # seconds since the previous reading (--watch)
    source: str
    profile: str | None = None  # with a PROFILE: each row is judged against it too
    profile_why: str | None = None
    rows: list[Row]
    sockets: SocketStates
    symptoms: list[SymptomRow]
    kernel_log: list[LogRow]  # empty when the kernel log was not read (see notes)
    notes: list[str] = []  # what was not read, and why
    read_ms: dict[str, float] = {}  # what each reader cost, in milliseconds
    prometheus: str | None = None  # the textfile written (--prometheus)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def worst(self) -> Verdict:
        """The worst verdict of any row or symptom counter."""
        seen = {r.verdict for r in self.rows} | {s.verdict for s in self.symptoms}
        return next((v for v in VERDICT_ORDER if v in seen), "ok")

    @computed_field  # type: ignore[prop-decorator]
    @property
    def counts(self) -> dict[Verdict, int]:
        return {v: sum(1 for r in self.rows if r.verdict == v) for v in VERDICT_ORDER}
