"""status as text: the nearest cliff in words, the table with a profile, the screen."""

from __future__ import annotations

import io

from tunekit.knowledge import catalogue as K
from tunekit.model.status import ProfileJudgement, Row, SocketStates
from tunekit.output.documents.status import Status
from tunekit.output.status import ENTER, HOME, LEAVE, Screen, cliff, render_status


def ports_row(**kw) -> Row:
    base = dict(
        resource="ephemeral ports",
        key=K.PORT_RANGE.name,
        labels={"source": "10.0.0.1", "destination": "10.0.0.5:443"},
        used=11_200,
        limit=28_000,
        percent=40.0,
        rate=1200.0,
        seconds_to_limit=14.0,
    )
    return Row(**(base | kw))


def test_the_cliff_says_what_runs_out_when_and_at_what_rate():
    assert cliff(ports_row()) == (
        "ephemeral ports of 10.0.0.1 -> 10.0.0.5:443 run out in ~14 s at +1,200/s"
    )
    assert cliff(ports_row(seconds_to_limit=5400.0)).endswith("in ~90 min at +1,200/s")
    assert cliff(ports_row(rate=None, seconds_to_limit=None)) == ""


def test_render_with_a_profile_has_its_columns_and_the_fix():
    row = ports_row(
        verdict="near",
        fix="sysctl -w x=1",
        profile=ProfileJudgement(
            profile="client-flood", expected=">= 64,512 ports", verdict="fail", planned=1000
        ),
    )
    doc = Status(
        at="2026-12-02T07:00:00.000000Z",
        interval=2.0,
        source="live",
        profile="client-flood",
        profile_why="named",
        rows=[row],
        sockets=SocketStates(established=10),
        symptoms=[],
        kernel_log=[],
        read_ms={"total": 12.0},
    )
    text = render_status(doc)
    assert "PROFILE TARGET" in text and "fail >= 64,512 ports" in text
    assert "Nearest cliffs" in text and "run out in ~14 s" in text
    assert "fix: sysctl -w x=1" in text and "since the previous reading" in text


def test_screen_redraws_only_on_a_terminal_and_always_puts_it_back():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    out = Tty()
    try:
        with Screen(out) as screen:
            screen.show("one")
            screen.show("two")
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    text = out.getvalue()
    assert text == ENTER + HOME + "one\n" + HOME + "two\n" + LEAVE + "two\n"
    plain = io.StringIO()
    with Screen(plain) as screen:
        screen.show("one")
    assert plain.getvalue() == "one\n\n"
