# A stdout callback for the tests: every task's result per host, and the play's stats, as
# one JSON document on stdout. (ansible-core no longer ships the json callback; it moved to
# ansible.posix, which the tests do not install.)

from __future__ import annotations

import json

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: results_json
type: stdout
short_description: every task result per host, and the stats, as one JSON document
description: [Test helper of tunekit.]
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "results_json"

    def __init__(self):
        super().__init__()
        self.tasks = []

    def v2_playbook_on_task_start(self, task, is_conditional):
        self.tasks.append({"task": {"name": task.get_name()}, "hosts": {}})

    def _record(self, result, **extra):
        host = result._host.get_name()
        self.tasks[-1]["hosts"][host] = {**self._clean(result._result), **extra}

    def _clean(self, res):
        return json.loads(json.dumps(res, default=str))

    def v2_runner_on_ok(self, result):
        self._record(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, failed=True)

    def v2_runner_on_skipped(self, result):
        self._record(result, skipped=True)

    def v2_runner_on_unreachable(self, result):
        self._record(result, unreachable=True)

    def v2_playbook_on_stats(self, stats):
        hosts = sorted(stats.processed)
        out = {
            "plays": [{"tasks": self.tasks}],
            "stats": {h: stats.summarize(h) for h in hosts},
        }
        self._display.display(json.dumps(out))
