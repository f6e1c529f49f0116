"""The verdict of a check: COMPLIANT only when every target was read and passed."""

from __future__ import annotations

import pytest

from tunekit.model.check import Finding, outcome, unverified


def finding(verdict: str, key: str = "k", actual: str | None = "x") -> Finding:
    return Finding(key=key, expected=">= 1", actual=actual, verdict=verdict, reason="why")


@pytest.mark.parametrize(
    "verdicts, expected",
    [
        (["pass", "pass"], "compliant"),
        (["pass", "warn"], "compliant"),  # a warning is verified and passes
        (["pass", "fail", "missing"], "not-compliant"),  # a failure outranks the rest
        (["pass", "missing"], "incomplete"),
        (["pass", "unreadable"], "incomplete"),
        (["pass", "not-applicable"], "incomplete"),
        (["missing", "missing"], "incomplete"),
        ([], "incomplete"),  # nothing checked is nothing verified
    ],
)
def test_outcome(verdicts, expected):
    assert outcome([finding(v) for v in verdicts]) == expected


def test_unverified_says_which_and_why():
    got = unverified(
        [
            finding("pass", "a"),
            finding("missing", "b", "not in the snapshot"),
            finding("unreadable", "c"),
        ]
    )
    assert got == ["b: missing (not in the snapshot)", "c: unreadable (why)"]
