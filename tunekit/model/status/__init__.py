"""`status`, judged: the rows of one reading (rows.py), their fixes (fixes.py, check's own
fix lines), and the data they are made of (types.py). Pure: ops/status.py reads."""

from tunekit.model.status.rows import judge
from tunekit.model.status.types import (
    Judged,
    ListenSocket,
    LogRow,
    Previous,
    ProcessFiles,
    Profiled,
    ProfileJudgement,
    Row,
    Snapshot,
    SocketStates,
    SymptomRow,
    Verdict,
)

__all__ = [
    "Judged",
    "ListenSocket",
    "LogRow",
    "Previous",
    "ProcessFiles",
    "ProfileJudgement",
    "Profiled",
    "Row",
    "Snapshot",
    "SocketStates",
    "SymptomRow",
    "Verdict",
    "judge",
]
