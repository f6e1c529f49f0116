"""export tuned: a TuneD profile directory (tuned.conf) with the sysctls apply would write
and the module parameters of its modprobe.d file.

"At least" integer targets use TuneD's `>N` assignment modifier: TuneD writes N only where
the current value is lower (tuned/plugins/base.py _process_assignment_modifiers, TuneD
2.20 as Debian ships it), which is tunekit's "never lower". The modifier compares with
int(): on a triple or a range (tcp_mem, ip_local_port_range) int() fails and TuneD writes
the value with its '>' to the kernel, which rejects it. Those are exported as plain values,
set exactly, and the notes say which.
"""

from __future__ import annotations

from tunekit.export import Exported, ExportFile, header_lines
from tunekit.model.facts import HostFacts
from tunekit.model.plan import Plan, Setting
from tunekit.persist.writers import sysctl_d

PATH = "tuned.conf"
REAPPLY = (
    "TuneD applies /run/sysctl.d, /etc/sysctl.d and /etc/sysctl.conf again after its "
    "profile (reapply_sysctl = 1, the default in /etc/tuned/tuned-main.conf; tuned#816): "
    "a file there that sets one of these keys wins over this profile"
)


def at_least(s: Setting) -> bool:
    """Every target behind the setting is 'at least' on the whole value."""
    targets = [f.target for f in s.findings if f.target]
    return bool(targets) and all(t.op == "at_least" and t.index is None for t in targets)


def value(s: Setting) -> str:
    """What the [sysctl] line assigns: `>N` for an 'at least' integer, else the value."""
    if at_least(s) and s.key.shape == "int" and isinstance(s.value, int):
        return f">{s.text}"
    return s.text


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _summary(text: str) -> str:
    # TuneD's parser cuts a value at '#' (inline_comment_prefixes=('#'), loader.py)
    return _one_line(text.replace("#", " "))


def export(plan: Plan, facts: HostFacts) -> Exported:
    decided = plan.decided
    sysctls = sysctl_d.settings(decided) if decided else []
    params = [s for s in decided.settings if s.to_modprobe] if decided else []
    exact = [s.key.name for s in sysctls if at_least(s) and not value(s).startswith(">")]
    notes = [REAPPLY]
    if exact:
        notes.append(
            "'at least' targets that TuneD's '>' cannot express (it compares with int(), "
            "and these are not one integer), so set exactly and able to lower a host that "
            "has more: " + ", ".join(exact)
        )
    if decided and decided.nofile is not None and plan.files:
        notes.append(
            "TuneD has no plugin for open-files limits: the limits.d and systemd drop-ins "
            "are `tunekit export sysctl`'s (the same files as apply)"
        )
    lines = [f"# {c}".rstrip() for c in header_lines(plan, "tuned")]
    lines += [
        "# Install: copy this directory to /etc/tuned/NAME, then `tuned-adm profile NAME`",
        "# (or add it to the active profiles: `tuned-adm profile CURRENT NAME`).",
        "# '>N': TuneD writes N only where the value is lower (never lowers).",
        *(f"# NOTE: {_one_line(n)}" for n in notes),
        "",
        "[main]",
        f"summary={_summary(f'tunekit {plan.profile}, planned against root {plan.root}')}",
    ]
    if sysctls:
        lines += ["", "[sysctl]"]
        for s in sysctls:
            lines.append(f"# {_one_line(s.reason)} ({_one_line(s.source)})")
            if s.key.name in exact:
                lines.append("# at least, but set exactly: TuneD's '>' takes one integer only")
            lines.append(f"{s.key.name}={value(s)}")
    if params:
        lines += ["", "[modules]"]
        for module in dict.fromkeys(s.key.module for s in params if s.key.module):
            mine = [s for s in params if s.key.module == module]
            lines += [f"# {s.key.name}: {_one_line(s.reason)}" for s in mine]
            lines.append(f"{module}=" + " ".join(f"{s.key.param}={s.text}" for s in mine))
    if not sysctls and not params:
        notes.append("this host already meets every target: the profile sets nothing")
    return Exported(files=[ExportFile(path=PATH, content="\n".join(lines) + "\n")], notes=notes)
