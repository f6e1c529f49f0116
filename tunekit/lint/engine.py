"""tunekit lint: the tuning lines a host carries, checked against what the kernel does.

The knowledge is data (knowledge/rules.toml and the catalogue): this module reads the
lines (host/confparse), works out what the host gets at boot (the last assignment of each
key wins), evaluates the rules and adds what only the whole set shows: keys absent on the
running kernel, assignments overridden by a later one, values that fail a profile.
What a condition sees of a line (boot values, the catalogue's facts) is facts.py.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from tunekit.host import confparse
from tunekit.host.confparse import Problem, Setting
from tunekit.knowledge import bounds
from tunekit.knowledge import catalogue as K
from tunekit.lint import source
from tunekit.lint.facts import Facts, ints_of, nixos_order, shown
from tunekit.lint.host import Host
from tunekit.lint.inputs import template_target
from tunekit.lint.language import Unknown, evaluate, render
from tunekit.lint.report import (
    DEFAULT_FAIL_ON,
    VERDICTS,
    BootChange,
    LintFile,
    LintFinding,
    LintHost,
    LintReport,
    LintVerdict,
)
from tunekit.lint.rules import Knowledge, Rule, knowledge

# --- the engine --------------------------------------------------------------------------


@dataclass
class _Input:
    path: str
    format: str
    settings: list[Setting]
    problems: list[Problem]


class _Linter(Facts):
    """Runs the rules over each line and adds what only the whole set shows."""

    def __init__(self, inputs: list[_Input], host: Host, know: Knowledge):
        settings = nixos_order([s for i in inputs for s in i.settings])
        super().__init__(settings, {i.path: i.format for i in inputs}, host, know)
        self.inputs = inputs
        self.findings: list[LintFinding] = []
        self._by_key: dict[tuple[str, str], list[Rule]] = {}  # _candidates
        self.refused: set[int] = set()  # settings whose write the kernel or the tool refuses
        # writes that fail outright (the key missing, the value refused): what stops an
        # Ansible play; not a syntax the kernel still takes (octal, a short triple)
        self.write_fails: set[int] = set()

    def add(self, rule: Rule, s: Setting | Problem, env: dict) -> None:
        where = f"rule {rule.id}"
        if rule.verdict in ("dead", "syntax"):
            self.refused.add(id(s))  # a write that fails: it overrides and zeroes nothing
        self.findings.append(
            LintFinding(
                file=s.file,
                line=s.line,
                key=shown(s.key),
                value=shown(s.value),
                verdict=rule.verdict,
                why=render(rule.why, env, where),
                fix=render(rule.fix, env, where),
                source=render(rule.source, env, where),
                rule=rule.id,
                text=shown(s.text.strip()),
            )
        )

    def _comment_ignored(self, s: Setting, env: dict) -> Setting | None:
        """The setting as the kernel takes it when an inline '# ...' follows all the numbers
        the key takes, after whitespace (measured: applied, exit 0); None otherwise."""
        before, _, _ = s.value.partition("#")
        numbers = ints_of(before)
        wanted = {"int": 1, "range": 2, "triple": 3}.get(env["shape"])
        if wanted is None and env["shape"] == "ints":
            wanted = env["count_live"]
        if not before.endswith(" ") or numbers is None or not wanted or len(numbers) < wanted:
            return None
        return replace(s, value=" ".join(before.split()[:wanted]), problem=None)

    def _extra_dropped(self, s: Setting, env: dict) -> Setting | None:
        """The setting as the kernel takes it when the line gives more numbers than the
        key takes: it reads the vector's length and drops the rest of the write without
        an error (measured: applied, exit 0); None otherwise."""
        words = s.value.split()
        wanted = {"int": 1, "range": 2, "triple": 3}.get(env["shape"])
        if wanted is None and env["shape"] == "ints":
            wanted = env["count_live"]
        if (
            s.problem
            or not wanted
            or len(words) <= wanted
            or ints_of(" ".join(words[:wanted])) is None
        ):
            return None  # (`0 junk`: the kernel takes the 0 too; `0junk` it refuses)
        return replace(s, value=" ".join(words[:wanted]))

    def _cut(self, s: Setting, env: dict) -> bool:
        """A line the kernel takes only part of (more numbers than the key takes, or an
        inline comment after them): name it, then lint what is written as any line."""
        check, applied = "extra-values-dropped", None
        if s.kind == "sysctl":
            applied = self._extra_dropped(s, env)
        if applied is None and s.problem == "inline-comment":
            check, applied = "inline-comment-ignored", self._comment_ignored(s, env)
        if applied is None:
            return False
        count = len(applied.value.split())
        dropped = " ".join(s.value.split()[count:])
        names = {"count": count, "applied": applied.value, "dropped": dropped}
        self.add(self.know.by_check(check), s, {**env, **names})
        self.run_rules(applied)
        return True

    def _hits(self, s: Setting, env: dict, snapshot: bool) -> list[Rule]:
        hits = []
        for rule in self._candidates(s):
            if snapshot and rule.verdict == "dead":
                continue
            try:
                if evaluate(rule.when, env):
                    hits.append(rule)
            except Unknown:
                continue
        return hits

    def _candidates(self, s: Setting) -> list[Rule]:
        """The rules whose kind and key patterns take this line, on this kernel: matched
        once per (kind, key), not once per line."""
        slot = (s.kind, s.key)
        found = self._by_key.get(slot)
        if found is None:
            canonical = K.canonical(s.key)
            found = [
                r
                for r in self.know.rules
                if not r.check and r.matches(s, canonical) and r.holds_on(self.host.kernel)
            ]
            self._by_key[slot] = found
        return found

    def run_rules(self, s: Setting) -> None:
        env = self.env(s)
        if self._cut(s, env):
            return
        snapshot = self.format_of.get(s.file) == "sysctl-a"
        hits = self._hits(s, env, snapshot)
        fired = len(hits)
        rejected = self._rejected(s) if s.kind == "sysctl" else None
        if s.problem in NEVER_RUNS:
            hits, rejected = [], None  # what the line would do is moot: it never runs
        elif s.kind == "sysctl" and (rejected or env["absent"] is True):
            self.write_fails.add(id(s))
        if rejected or any(r.verdict == "dead" for r in hits):
            # a write that fails changes nothing: what the others say of its effect is moot
            hits = [r for r in hits if r.verdict == "dead"]
        elif s.problem and self.know.by_check(s.problem).verdict == "dead":
            # a command that writes nothing (a path given to sysctl, no shell): what was
            # meant is still judged, but "it changes nothing" says nothing more
            hits = [r for r in hits if r.verdict != "no-op"]
        for rule in hits:
            self.add(rule, s, env)
        if rejected and not hits:
            self.add(self.know.by_check("out-of-range"), s, {**env, **rejected})
        if s.problem:
            self.add(self.know.by_check(s.problem), s, env)
        elif (
            s.kind == "sysctl"
            and s.ints is None
            and (ints_of(env["live"]) is not None or env["shape"] in ("int", "range", "triple"))
        ):
            self.add(self.know.by_check("not-a-number"), s, env)
        elif s.kind == "sysctl" and env["absent"] and not fired and not snapshot:
            found = source.absent(self.host, K.canonical(s.key))
            if found is not None:
                self.add(self.know.by_check(found[0]), s, {**env, **found[1]})
        numbers = s.ints if s.kind == "sysctl" else None  # ints: a bounded number of digits
        if numbers is not None and not source.read_as_number(K.canonical(s.key)):
            numbers = None  # a string, or a mask read as hex: 0100 is what it says
        if numbers is not None and any(bounds.not_decimal(w) is not None for w in s.value.split()):
            read = " ".join(str(n) for n in numbers)
            self.add(self.know.by_check("octal-value"), s, {**env, "read_as": read})

    def _rejected(self, s: Setting) -> dict | None:
        """The names the out-of-range text needs, when the kernel's own bounds (the
        catalogue's, the ones profiles and the plan enforce) refuse the value."""
        key = K.KEYS.get(K.canonical(s.key))
        if s.ints is None:
            return None
        why = bounds.kernel_rejects(key, s.ints) if key is not None else None
        if why is not None and key is not None:
            low, high = key.minimum, key.maximum
            refused = next(
                v
                for v in s.ints
                if (low is not None and v < low) or (high is not None and v > high)
            )
            return {
                "refused": refused,
                "bound": why,
                "minimum": key.minimum if key.minimum is not None else "any",
                "maximum": key.maximum if key.maximum is not None else "any",
                "key_source": key.source,
            }
        return source.rejects(K.canonical(s.key), s.ints, s.value)

    def overridden(self) -> None:
        rule = self.know.by_check("overridden")
        groups: dict[tuple, list[Setting]] = {}
        for s in self.settings:
            if self.format_of.get(s.file) == "sysctl-a" or s.kind == "load" or s.problem:
                continue  # a line the tool rejects overrides nothing
            if id(s) in self.refused:
                continue  # nor does one the kernel refuses
            if s.templated:
                continue  # a template's branches: which one renders is the play's to say
            name = K.canonical(s.key) if s.kind == "sysctl" else s.key
            # a container's line overrides only that container's (context and service)
            groups.setdefault((s.kind, s.context, s.domain, s.type, name), []).append(s)
        for group in groups.values():
            winner = group[-1]
            for s in group[:-1]:
                env = {**self.env(s), "winner": f"{winner.file}:{winner.line}"}
                env["winner_value"] = winner.value
                self.add(rule, s, env)
        self._zeroed()

    def _zeroed(self) -> None:
        """The last line of a key that a later write of its partner sets to 0
        (catalogue.ZEROES: vm.dirty_ratio and vm.dirty_bytes, ...): its value is gone. Only
        a write the kernel takes zeroes anything, and only within one context (the host's
        boot, or one container)."""
        rule = self.know.by_check("zeroed")
        lines = [
            s
            for s in self.sysctls
            if not s.problem
            and self.format_of.get(s.file) != "sysctl-a"
            and s.ints is not None
            and id(s) not in self.refused
        ]
        order = {id(x): n for n, x in enumerate(self.sysctls)}
        pending: dict[tuple, Setting] = {}  # (context, domain, key) -> its last line so far
        for w in lines:  # one pass, in the order they apply
            key, where = K.canonical(w.key), (w.context, w.domain)
            partner, on_change, source = K.ZEROES.get(key, ("", False, ""))
            s = pending.pop((*where, partner), None)
            if s is not None and not (on_change and self._repeats(w, s, order)):
                env = {**self.env(s), "winner": f"{w.file}:{w.line}", "winner_key": w.key}
                self.add(rule, s, {**env, "winner_value": w.value, "zeroes_in": source})
            pending[(*where, key)] = w

    def _repeats(self, w: Setting, partner: Setting, order: dict[int, int]) -> bool:
        """`w` writes what the files already wrote to its key after the partner's line (a
        handler that acts only on a change then does nothing). Otherwise it is a change:
        the partner's line zeroed the key, whatever the live value is."""
        prev = self.before.get(id(w))
        return prev is not None and prev.value == w.value and order[id(prev)] > order[id(partner)]

    def conflicts(self, profile: str, targets: list) -> None:
        from tunekit.model import check, values

        rule = self.know.by_check("conflict")
        for t in targets:
            s = self.effective.get(t.key)
            if s is None or t.entry.kind != "sysctl":
                continue
            try:
                ok = check.satisfied(t, values.parse(t.entry, s.value))
            except (ValueError, TypeError, IndexError):
                ok = False
            if not ok:
                env = {**self.env(s), "profile": profile, "want": check.describe(t)}
                self.add(rule, s, env)

    def changes(self) -> list[BootChange]:
        out = []
        for key, s in self.effective.items():
            status, live = self.host.live(key)
            if status != "present" or live is None:
                continue
            same = ints_of(live) == s.ints if s.ints is not None else live == s.value
            if not same:
                out.append(BootChange(key=key, live=live, boot=s.value, file=s.file, line=s.line))
        return out


NEVER_RUNS = (  # never run
    "never-called",
    "after-failed-task",
    "cmd-replaced",
    "cmd-ignored",
    "dockerfile-unknown-instruction",
)


def _built_into_images(parsed: list[_Input], inputs: list[tuple[str, str, str]]) -> None:
    """A script linted with the Dockerfile that RUNs it (`RUN /tmp/kernel.sh`, by file
    name) is run while that image is built: its settings are the image's, as the
    Dockerfile's own RUN lines are."""
    from pathlib import PurePath

    for _, text, fmt in inputs:
        if fmt != "dockerfile":
            continue
        names, pam = confparse.image_scripts(text)
        for item in parsed:
            if item.format == "script" and PurePath(item.path).name in names:
                for s in item.settings:
                    s.context = "image-pam" if pam and s.kind == "limits" else "image"


def _after_failed_tasks(parsed: list[_Input], fails: set[int]) -> bool:
    """Ansible stops running tasks on a host once one fails: after the first sysctl task of
    a file whose reload fails (`stops_play`; the key missing, or the value refused), the
    lines of the file's later tasks never run (problem `after-failed-task`; the other
    items of the failing task's own loop do). Whether any line was so marked."""
    marked = False
    for item in parsed:
        failed = [s for s in item.settings if s.stops_play and id(s) in fails]
        if not failed:
            continue
        first = min(failed, key=lambda s: s.line)
        for s in item.settings:
            later = s.line > first.line and (s.task != first.task or not s.task)
            if later and s.problem not in NEVER_RUNS:
                s.problem, marked = "after-failed-task", True
    return marked


def _judge(parsed: list[_Input], host: Host, know: Knowledge, mode) -> _Linter:
    """Every problem and every line of the inputs through the rules."""
    linter = _Linter(parsed, host, know)
    linter.mode = mode
    for item in parsed:
        for problem in item.problems:
            s = Setting(
                problem.file, problem.line, "sysctl", problem.key, problem.value, problem.text
            )
            linter.add(know.by_check(problem.check), s, {**linter.env(s), **problem.extra})
        for s in item.settings:
            if s.kind != "load":
                linter.run_rules(s)
    return linter


def lint(
    inputs: list[tuple[str, str, str]],
    host: Host,
    know: Knowledge | None = None,
    profile: tuple[str, list] | None = None,
    mode: Literal["boot", "files"] = "files",
    fail_on: tuple[LintVerdict, ...] = DEFAULT_FAIL_ON,
    unreadable: list[str] | None = None,
) -> LintReport:
    """Lint (path, text, format) inputs, in the order they apply."""
    know = know or knowledge()
    parsed = []
    unreadable = list(unreadable or [])
    for path, text, fmt in inputs:
        p = confparse.parse(text, path, fmt)
        if template_target(path) != path:
            for s in p.settings:  # every branch is read: which renders is not known here
                s.templated = True
        parsed.append(_Input(path, fmt, p.settings, p.problems))
        unreadable += [f"{path}: {why}" for why in p.unread]  # INCOMPLETE, never CLEAN
    _built_into_images(parsed, inputs)
    host.load_fresh([K.canonical(s.key) for p in parsed for s in p.settings if s.kind == "sysctl"])
    linter = _judge(parsed, host, know, mode)
    if _after_failed_tasks(parsed, linter.write_fails):
        # lines that never run are not the host's boot values either: judged again without
        # them (only where an Ansible task fails, so rarely twice)
        linter = _judge(parsed, host, know, mode)
    linter.overridden()
    if profile:
        linter.conflicts(*profile)
    order = {p.path: i for i, p in enumerate(parsed)}
    # one finding per line and rule: a function that calls itself, or one reached twice,
    # reports its lines once
    seen: set[tuple] = set()
    unique = []
    for f in linter.findings:
        if (mark := (f.file, f.line, f.rule, f.key, f.value, f.why)) not in seen:
            seen.add(mark)
            unique.append(f)
    linter.findings = unique
    linter.findings.sort(key=lambda f: (order[f.file], f.line, VERDICTS.index(f.verdict)))
    return LintReport(
        mode=mode,
        files=[LintFile(path=p.path, format=p.format, settings=len(p.settings)) for p in parsed],
        findings=linter.findings,
        fail_on=list(fail_on),
        changes_at_boot=linter.changes(),
        host=LintHost(
            kernel=host.kernel_text,
            memory_bytes=host.mem_bytes,
            live_values=host.live_source,
            container=host.container,
        ),
        unreadable=unreadable,
    )
