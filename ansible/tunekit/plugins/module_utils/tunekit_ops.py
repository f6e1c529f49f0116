# The glue between the module tunekit.tunekit.tune and tunekit's operations layer on the
# managed host: parameters to options, documents to return values, errors to one line.
# tunekit itself does the work (tunekit.check, tunekit.plan, tunekit.apply,
# tunekit.rollback); nothing of the engine is copied here.

from __future__ import annotations

import traceback

try:
    import tunekit
    from tunekit.errors import TunekitError
except ImportError:
    tunekit = None
    TunekitError = None
    IMPORT_ERROR = traceback.format_exc()
else:
    IMPORT_ERROR = None

INSTALL = (
    "Install tunekit for the Python that runs modules on this host: "
    "`python3 -m pip install tunekit` (from a checkout: `python3 -m pip install .`), or "
    "point ansible_python_interpreter at a Python that has it."
)
MAX_ROLLBACKS = 1000  # state: rolled_back undoes every journal; a bound, not a limit in use


class NotCompliant(Exception):
    """state: checked found failing targets: the task fails, with the result."""

    def __init__(self, msg, result):
        super().__init__(msg)
        self.msg = msg
        self.result = result


def failure(err):
    """fail_json's arguments for a TunekitError: its one line, its hint, its exit code."""
    msg = err.message + (f" (hint: {err.hint})" if err.hint else "")
    return {"msg": msg, "error": err.message, "hint": err.hint, "exit_code": int(err.exit_code)}


def _path(value):
    from pathlib import Path

    return Path(value) if value else None


def _estimate(est):
    """The estimate, led by what a playbook reads: the binding limit and what it allows."""
    if est is None:
        return None
    doc = est.model_dump(mode="json")
    return {
        "connections": est.connections,
        "capacity": est.capacity,
        "binding": doc["binding"],
        "limits": doc["limits"],
        "unfit": list(est.unfit),
    }


def _audit(params):
    """tunekit check on the host: (result fields, the check document)."""
    doc = tunekit.check(
        tunekit.CheckOptions(
            profile=params["profile"],
            conns=params["conns"],
            unit=params["unit"],
            root=_path(params["root"]),
            state_dir=_path(params["state_dir"]),
        )
    )
    fields = {
        "profile": doc.profile,
        "compliant": doc.compliant,
        "verdict": doc.verdict,
        "unverified": doc.unverified,
        "findings": [f.model_dump(mode="json") for f in doc.findings],
        "estimate": _estimate(doc.estimate),
    }
    return fields, doc


def plan_diff(doc):
    """Ansible's diff of a plan: the runtime writes, then each file's before and after, as
    `tunekit apply --dry-run` shows them."""
    out = []
    if doc.changes:
        out.append(
            {
                "before_header": "running kernel",
                "after_header": "running kernel (after apply)",
                "before": "".join(f"{c.key} = {c.old}\n" for c in doc.changes),
                "after": "".join(f"{c.key} = {c.new}\n" for c in doc.changes),
            }
        )
    for f in doc.files:
        if f.changed:
            out.append(
                {
                    "before_header": f"/{f.path}" + ("" if f.old is not None else " (absent)"),
                    "after_header": f"/{f.path}",
                    "before": f.old or "",
                    "after": f.content,
                }
            )
    return out


def journal_diff(journal):
    """What undoing one journal changes: the files back to their state before the apply,
    the runtime values back to the old ones."""
    import base64

    out = []
    if journal.runtime:
        out.append(
            {
                "before_header": f"running kernel (apply of {journal.profile})",
                "after_header": "running kernel (rolled back)",
                "before": "".join(f"{r.key} = {r.new}\n" for r in journal.runtime),
                "after": "".join(f"{r.key} = {r.old}\n" for r in journal.runtime),
            }
        )
    for f in journal.files:
        data = base64.b64decode(f.before.data).decode("utf-8", "replace")
        gone = f.before.kind == "absent"
        out.append(
            {
                "before_header": f"/{f.path}",
                "after_header": f"/{f.path}" + (" (removed)" if gone else " (restored)"),
                "before": f.new,
                "after": "" if gone else data,
            }
        )
    return out


def checked(params):
    fields, doc = _audit(params)
    result = {"changed": False, **fields}
    if doc.verdict == "not-compliant":
        failing = [f for f in doc.findings if f.verdict == "fail"]
        detail = "; ".join(f"{f.key} expected {f.expected}, is {f.actual or '-'}" for f in failing)
        raise NotCompliant(
            f"not compliant with {doc.profile}: {len(failing)} target(s) fail: {detail}", result
        )
    if doc.verdict == "incomplete":  # never reported as compliant: nothing was checked
        raise NotCompliant(
            f"incomplete against {doc.profile}: nothing fails, but "
            f"{len(doc.unverified)} target(s) were not verified: " + "; ".join(doc.unverified),
            result,
        )
    return result


def applied(params, check_mode):
    options = tunekit.ApplyOptions(
        profile=params["profile"],
        conns=params["conns"],
        scope=params["scope"],
        unit=params["unit"],
        root=_path(params["root"]),
        state_dir=_path(params["state_dir"]),
    )
    doc = tunekit.plan(options) if check_mode else tunekit.apply(options)
    changed = not doc.empty if check_mode else doc.applied
    fields, _ = _audit(params)
    return {
        "changed": changed,
        **fields,
        "journal": doc.journal,
        "recovered": list(doc.recovered),
        "plan": {
            "changes": [c.model_dump(mode="json") for c in doc.changes],
            "files": [f.path for f in doc.files if f.changed],
            "left_alone": list(doc.left_alone),
            "conflicts": list(doc.conflicts),
            "unfit": list(doc.unfit),
        },
        "diff": plan_diff(doc),
    }


def rolled_back(params, check_mode):
    options = tunekit.RollbackOptions(
        root=_path(params["root"]), state_dir=_path(params["state_dir"])
    )
    if check_mode:
        journals = tunekit.undoable(options)
        problems = []
    else:
        journals, problems = [], []
        for _ in range(MAX_ROLLBACKS):
            doc, journal, _state = tunekit.rollback(options)
            problems += doc.problems
            if journal is None or doc.problems:
                break
            journals.append(journal)
    result = {
        "changed": bool(journals),
        "rolled_back": [{"profile": j.profile, "created": j.created} for j in journals],
        "problems": problems,
        "diff": [d for j in journals for d in journal_diff(j)],
    }
    if problems:
        raise NotCompliant("rollback could not restore: " + "; ".join(problems), result)
    return result


def run(params, check_mode):
    """The module's result for its parameters. Raises TunekitError (the host cannot do
    it) or NotCompliant (the task fails with a result)."""
    if params["state"] == "checked":
        return checked(params)
    if params["state"] == "applied":
        return applied(params, check_mode)
    return rolled_back(params, check_mode)


# --- tunekit.tunekit.probe: probe --target on the managed host ---------------------------


def probe_options(params):
    """The module's parameters as tunekit's TargetProbeOptions (checked by tunekit)."""
    from tunekit.ops.probe import TargetProbeOptions
    from tunekit.probe.layout import Ramp

    ramp = params["ramp"]
    sources = params["source_ips"] if params["source_ips"] else params["sources"]
    return TargetProbeOptions(
        targets=list(params["target"]),
        conns=params["conns"],
        source_ips=sources,
        rate=params["rate"],
        ramp=Ramp(ramp["step"], ramp["seconds"]) if ramp else None,
        hold=params["hold"],
        send=params["send"],
        nofile=params["nofile"],
        processes=params["processes"],
        connect_timeout=params["connect_timeout"],
    )


def would_probe(plan):
    """Check mode's answer: what the probe would open, from where, and where the
    client-side estimate says it stops (None: it allows them all)."""
    lay, b = plan.layout, plan.estimate.binding
    stops = b is not None and b.allows < lay.conns
    return {
        "connections": lay.conns,
        "targets": [f"{ip}:{port}" for ip, port in lay.destinations],
        "sources": list(lay.sources),
        "source_from": plan.source_from,
        "connect_workers": len(lay.connectors),
        "nofile": lay.nofile,
        "predicted": b.allows if stops else None,
        "predicted_limit": (b.key or b.name) if stops else None,
    }


def short_message(doc):
    """One line for a probe that did not hold them all: held, and what stopped it."""
    line = f"held {doc.held:,} of {doc.connections:,}"
    stop = doc.stopped_by
    if stop is not None:
        limit = stop.key or stop.limit
        line += f"; stopped by {stop.kind} ({stop.side} side: {limit}) x {stop.count:,}: {stop.fix}"
    elif doc.verdict == "incomplete":
        line += "; incomplete, not verified: " + "; ".join(doc.unverified)
    return line


def probed(params, check_mode):
    """probe --target on this host; never changed (it leaves nothing behind)."""
    from tunekit.ops.probe import plan_target, probe_target

    options = probe_options(params)
    if check_mode:
        plan = would_probe(plan_target(options))
        return {
            "changed": False,
            "msg": f"would open {plan['connections']:,} connections to "
            f"{', '.join(plan['targets'])} from {', '.join(plan['sources'])}",
            "would_probe": plan,
        }
    doc = probe_target(options).doc
    result = {"changed": False, **doc.model_dump(mode="json")}
    if params["fail_short"] and doc.verdict != "complete":
        code = 5 if doc.verdict == "incomplete" else 1
        raise NotCompliant(
            f"probe {doc.verdict}: {short_message(doc)}", {**result, "exit_code": code}
        )
    return result


def finish(module, call) -> None:
    """Run `call(params, check_mode)` for a module and end it: exit_json with the result,
    or fail_json with one message (tunekit missing, a tunekit error, a host that is not
    compliant, SIGTERM from an async timeout after the probe tore its connections down)."""
    from ansible.module_utils.basic import missing_required_lib

    if IMPORT_ERROR is not None:
        module.fail_json(
            msg=missing_required_lib("tunekit") + " " + INSTALL, exception=IMPORT_ERROR
        )
    try:
        result = call(module.params, module.check_mode)
    except TunekitError as err:
        module.fail_json(**failure(err))
    except NotCompliant as err:
        module.fail_json(msg=err.msg, **err.result)
    except KeyboardInterrupt:
        module.fail_json(msg="interrupted: what it had opened was closed", exit_code=130)
    except Exception as err:  # a bug, or the host failing under it: one message, exit 70
        module.fail_json(
            msg=f"tunekit failed unexpectedly: {err!r}", exception=traceback.format_exc(),
            exit_code=70,
        )  # fmt: skip
    module.exit_json(**result)
