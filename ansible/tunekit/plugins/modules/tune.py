#!/usr/bin/python
# The module tunekit.tunekit.tune: one thin caller of tunekit's operations layer on the
# managed host (module_utils/tunekit_ops.py), as the CLI's commands are.

from __future__ import annotations

DOCUMENTATION = r"""
module: tune
short_description: Audit, apply or roll back tunekit's kernel tuning on a host
version_added: "0.2.0"
description:
  - Runs tunekit on the managed host through tunekit's own operations layer (the same
    functions as C(tunekit check), C(tunekit apply) and C(tunekit rollback)), with no copy
    of the engine and no call of the command line.
  - C(state=checked) audits the host against a profile and fails the task when it is not
    compliant, and also when it is incomplete (no target fails, but some could not be
    verified, being absent, unreadable or not visible from there), so one
    C(ansible-playbook) run audits a fleet and never passes a host on what it did not check.
  - C(state=applied) makes the host meet the profile. Only failing targets change, and an
    "at least" target never lowers a value that already satisfies it. Every change is
    journalled first; a failure half-way restores what was changed.
  - C(state=rolled_back) undoes every apply tunekit journalled on the host, newest first,
    restoring the runtime values and the files byte for byte.
  - A host that cannot comply (no CAP_SYS_RESOURCE for a hard open-files limit, a read-only
    /proc/sys, another apply running) fails with tunekit's one-line error and hint; the
    other hosts go on.
options:
  profile:
    description:
      - A profile name (C(server-1M), C(client-flood), C(host-conntrack), or one in
        /etc/tunekit/profiles) or the path of a profile TOML file on the managed host.
      - Omitted, the profile last applied on the host, else C(server-1M).
    type: str
  conns:
    description:
      - Connections to plan for; rescales the profile's workload.
    type: int
  state:
    description:
      - C(checked) audits, C(applied) applies, C(rolled_back) undoes every journalled apply.
    type: str
    choices: [checked, applied, rolled_back]
    default: applied
  scope:
    description:
      - C(all), or C(namespace) to change only the keys of the host's network namespace
        (what a container owns). For C(state=applied).
    type: str
    choices: [all, namespace]
    default: all
  unit:
    description:
      - A systemd unit whose open-files limit is the workload's; C(applied) also writes a
        C(LimitNOFILE=) drop-in for it, C(checked) audits its limit. Live host only.
    type: str
  root:
    description:
      - Act on the tree under this directory instead of the host's / (an image, a chroot);
        nothing outside it is read or written.
    type: path
  state_dir:
    description:
      - The journal directory; default C($TUNEKIT_STATE_DIR), else /var/lib/tunekit under
        I(root).
    type: path
attributes:
  check_mode:
    support: full
    description: Nothing is written; C(changed) says whether the host would change.
  diff_mode:
    support: full
    description: The runtime changes, and each file before and after, as C(tunekit apply --dry-run) shows them.
  platform:
    platforms: posix
requirements:
  - tunekit (C(python3 -m pip install tunekit)) for the Python that runs modules on the
    managed host (I(ansible_python_interpreter)).
  - root on the managed host for C(applied) and C(rolled_back) without I(root).
notes:
  - Idempotent. A second C(applied) run reports C(changed=false); so does a second
    C(rolled_back).
  - The findings of C(applied) are those after the apply (before it in check mode).
seealso:
  - name: tunekit and fleets
    description: An inventory and playbook that audit a fleet, apply profiles and roll back.
    link: docs/fleet.md in the tunekit repository
author:
  - tunekit team
"""

EXAMPLES = r"""
- name: Audit every host against its profile (fails the hosts that are not compliant)
  tunekit.tunekit.tune:
    profile: "{{ tunekit_profile }}"
    state: checked
  register: audit

- name: Show what binds first on each host
  ansible.builtin.debug:
    msg: "{{ audit.estimate.binding.name }} stops it at {{ audit.estimate.capacity }}"

- name: Tune the load generators
  tunekit.tunekit.tune:
    profile: client-flood
    conns: 500000
    state: applied
  register: tuned

- name: Tune the server's unit too
  tunekit.tunekit.tune:
    profile: server-1M
    unit: broker.service
    state: applied

- name: Undo everything tunekit applied
  tunekit.tunekit.tune:
    state: rolled_back
"""

RETURN = r"""
profile:
  description: The profile audited or applied.
  returned: when state is checked or applied
  type: str
  sample: server-1M
compliant:
  description: Whether every target was read and passes (after the apply, for state=applied).
  returned: when state is checked or applied
  type: bool
  sample: false
verdict:
  description: compliant, not-compliant, or incomplete (nothing fails, something unverified).
  returned: when state is checked or applied
  type: str
  sample: not-compliant
unverified:
  description: Each target that was not verified, with why.
  returned: when state is checked or applied
  type: list
  elements: str
  sample: ["rlimit.nofile.soft: not-applicable (20,000 (this process (pid 1234)))"]
findings:
  description: One per target, as C(tunekit check --json) gives them.
  returned: when state is checked or applied
  type: list
  elements: dict
  sample:
    - key: net.core.somaxconn
      expected: ">= 10,000"
      actual: "4096"
      verdict: fail
      reason: "20,000/s arriving during a 500 ms accept pause"
estimate:
  description: What the workload needs against every live limit; C(binding) is the limit
    that stops it first and C(capacity) the connections it allows.
  returned: when state is checked or applied
  type: dict
  contains:
    connections:
      description: The connections the profile plans for.
      type: int
    capacity:
      description: Connections the binding limit allows.
      type: int
    binding:
      description: The lowest limit (name, key, allows, detail).
      type: dict
    limits:
      description: Every limit, lowest first.
      type: list
      elements: dict
    unfit:
      description: Why the workload cannot fit this host, where no setting can lift it.
      type: list
      elements: str
  sample:
    connections: 1000000
    capacity: 18976
    binding:
      name: open files per process (RLIMIT_NOFILE hard)
      key: rlimit.nofile.hard
      allows: 18976
journal:
  description: The journal file this apply wrote (C(tunekit rollback) undoes it); null in
    check mode or when nothing changed.
  returned: when state is applied
  type: str
  sample: /var/lib/tunekit/journals/000001.applied.toml
plan:
  description: The runtime changes, the files changed, and what was left alone and why.
  returned: when state is applied
  type: dict
recovered:
  description: Interrupted applies that were undone first.
  returned: when state is applied
  type: list
  elements: str
rolled_back:
  description: The applies undone (or, in check mode, that would be), newest first.
  returned: when state is rolled_back
  type: list
  elements: dict
problems:
  description: What a rollback could not restore.
  returned: when state is rolled_back
  type: list
  elements: str
error:
  description: tunekit's one-line error, when the host cannot do it.
  returned: failure
  type: str
hint:
  description: What to do about the error.
  returned: failure
  type: str
exit_code:
  description: The tunekit exit code of the error (2 bad input, 3 not permitted, 4 apply failed and rolled back).
  returned: failure
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.tunekit.tunekit.plugins.module_utils import tunekit_ops


def main():
    module = AnsibleModule(
        argument_spec=dict(
            profile=dict(type="str"),
            conns=dict(type="int"),
            state=dict(
                type="str", default="applied", choices=["checked", "applied", "rolled_back"]
            ),
            scope=dict(type="str", default="all", choices=["all", "namespace"]),
            unit=dict(type="str"),
            root=dict(type="path"),
            state_dir=dict(type="path"),
        ),
        supports_check_mode=True,
    )
    tunekit_ops.finish(module, tunekit_ops.run)


if __name__ == "__main__":
    main()
