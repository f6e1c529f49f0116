#!/usr/bin/python
# The module tunekit.tunekit.probe: `tunekit probe --target` on the managed host, through
# tunekit's operations layer (tunekit.ops.probe.probe_target), in process.

from __future__ import annotations

DOCUMENTATION = r"""
module: probe
short_description: Load your own servers from this host and say what stopped the climb
version_added: "0.2.0"
description:
  - Runs C(tunekit probe --target) on the managed host (a load generator) through tunekit's
    own operations layer, in the module's process. It opens I(conns) real TCP connections
    from this host to the servers named, holds them for I(hold) seconds, closes them, and
    returns the probe's document (C(tunekit schema probe-target)) as the task's result.
  - Run on every load generator of an inventory at once (Ansible runs I(forks) hosts in
    parallel; use C(async) for holds longer than the connection's timeout), then sum
    C(held) over the hosts in a C(run_once) task. See docs/fleet.md.
  - Never C(changed), since a probe leaves nothing behind on the host (its connections are
    closed and its worker processes gone when the task ends).
  - A probe that stops short is not a failure of the task by default; it returns
    C(complete=false) and C(stopped_by), the limit that stopped the climb first (on this
    client, on the server's side or on the network) with its fix. With I(fail_short=true)
    the task fails instead.
  - Only for servers you own or are allowed to load. It is a load generator.
options:
  target:
    description:
      - The servers to connect to, each C(HOST:PORT) (IPv4; a name must resolve to exactly
        one address). Connections are spread over every (source, target) pair.
    type: list
    elements: str
    required: true
    aliases: [targets]
  conns:
    description:
      - Connections to open from this host (all targets together).
    type: int
    required: true
  source_ips:
    description:
      - Source addresses to bind, each an address of this host. Omitted (and without
        I(sources)), each target's route chooses the source.
    type: list
    elements: str
  sources:
    description:
      - Use the first N non-loopback IPv4 addresses of this host (in address order) as
        sources, as C(--source-ips N) does.
    type: int
  rate:
    description:
      - New connections per second, all workers together. Omitted, as fast as it goes.
    type: int
  ramp:
    description:
      - Climb in plateaus, I(step) more connections every I(seconds) of holding, as
        C(--ramp STEP/SECONDS).
    type: dict
    suboptions:
      step:
        description: Connections each step adds (at least the connecting workers).
        type: int
        required: true
      seconds:
        description: Seconds each plateau is held before the next step.
        type: float
        required: true
  hold:
    description:
      - Seconds to hold every connection once established.
    type: float
    default: 2.0
  send:
    description:
      - Bytes each connection sends once established (0 to 1048576).
    type: int
    default: 0
  nofile:
    description:
      - The soft open-files limit of each connecting worker (at most the hard limit).
    type: int
  processes:
    description:
      - Connecting workers; default, as many as the hard open-files limit needs.
    type: int
  connect_timeout:
    description:
      - Seconds a handshake may take before it counts as a timeout.
    type: float
    default: 5.0
  fail_short:
    description:
      - Fail the task when the probe does not hold all I(conns) (C(complete=false)), and
        also when it is incomplete (what it claims could not be verified).
    type: bool
    default: false
attributes:
  check_mode:
    support: full
    description: No connection is opened; the task returns the plan (sources, workers, the
      client-side estimate's prediction) in C(would_probe).
  diff_mode:
    support: none
  platform:
    platforms: posix
requirements:
  - tunekit (C(python3 -m pip install tunekit)) for the Python that runs modules on the
    managed host (I(ansible_python_interpreter)).
notes:
  - The probe runs in the network namespace the module runs in, and with the module's
    open-files hard limit (root lifts it per worker up to C(fs.nr_open)).
  - Tune the load generators first (M(tunekit.tunekit.tune) with C(profile=client-flood)).
seealso:
  - module: tunekit.tunekit.tune
  - name: tunekit and fleets
    description: A playbook where every load generator probes at once and a last task sums
      what they held.
    link: docs/fleet.md in the tunekit repository
author:
  - tunekit team
"""

EXAMPLES = r"""
- name: Every load generator opens 50,000 connections to the broker at once
  tunekit.tunekit.probe:
    target: ["10.0.0.10:8883"]
    conns: 50000
    sources: 4               # the first 4 addresses of each generator
    hold: 300
  async: 900                 # a long hold: past the SSH connection's patience
  poll: 10
  register: probed

- name: Sum what they held
  run_once: true
  ansible.builtin.debug:
    msg: >-
      held {{ ansible_play_hosts | map('extract', hostvars, ['probed', 'held']) | sum }}
      of {{ ansible_play_hosts | map('extract', hostvars, ['probed', 'connections']) | sum }}

- name: A climb that must reach its target or fail the host
  tunekit.tunekit.probe:
    target: ["10.0.0.10:8883", "10.0.0.11:8883"]
    conns: 20000
    ramp: {step: 5000, seconds: 30}
    fail_short: true
"""

RETURN = r"""
connections:
  description: Connections asked for (I(conns)).
  returned: success, not in check mode
  type: int
  sample: 50000
complete:
  description: All of them established and still held at the end, with no failure.
  returned: success, not in check mode
  type: bool
  sample: false
verdict:
  description: C(complete), C(stopped-short), or C(incomplete) (nothing stopped it, but
    something it claims could not be verified; see C(unverified)).
  returned: success, not in check mode
  type: str
  sample: stopped-short
unverified:
  description: What the probe could not verify, each with why.
  returned: success, not in check mode
  type: list
  elements: str
established:
  description: Connections established (ever).
  returned: success, not in check mode
  type: int
held:
  description: Connections still held at the end of the hold.
  returned: success, not in check mode
  type: int
  sample: 28232
lost:
  description: Established, then closed or reset by the server while held.
  returned: success, not in check mode
  type: int
stopped_by:
  description: What stopped the climb first (null when it did not stop), as
    C(tunekit probe --target --json) gives it.
  returned: success, not in check mode
  type: dict
  contains:
    kind:
      description: The errno name, C(timeout), or C(closed) (the server ended it).
      type: str
    side:
      description: C(client), C(server), C(network) or C(unknown).
      type: str
    key:
      description: The catalogue key whose limit it is on this client, if one.
      type: str
    limit:
      description: The limit, in words.
      type: str
    count:
      description: How many times.
      type: int
    by_destination:
      description: Counts per target.
      type: dict
    fix:
      description: What to change, with this host's numbers.
      type: str
  sample:
    kind: EADDRNOTAVAIL
    side: client
    key: net.ipv4.ip_local_port_range
    count: 212
    fix: "widen net.ipv4.ip_local_port_range (now 32768-60999), or add source addresses"
causes:
  description: Every failure by cause, the one that stopped it first.
  returned: success, not in check mode
  type: list
  elements: dict
layout:
  description: Sources (and where they came from), pairs, workers, their open-files limit.
  returned: success, not in check mode
  type: dict
stop:
  description: The client-side estimate's predicted stop beside the observed one.
  returned: success, not in check mode
  type: dict
would_probe:
  description: In check mode, what the probe would do (no connection opened).
  returned: check mode
  type: dict
  sample:
    connections: 50000
    targets: ["10.0.0.10:8883"]
    sources: ["10.0.0.21"]
    source_from: route
    connect_workers: 3
    nofile: 20000
    predicted: 28231
    predicted_limit: net.ipv4.ip_local_port_range
error:
  description: tunekit's one-line error, when the options or the host cannot do it.
  returned: failure
  type: str
hint:
  description: What to do about the error.
  returned: failure
  type: str
exit_code:
  description: The tunekit exit code of the error (2 bad input, 3 not permitted; 1 when
    I(fail_short) failed it, 5 when it was incomplete).
  returned: failure
  type: int
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.tunekit.tunekit.plugins.module_utils import tunekit_ops


def main():
    module = AnsibleModule(
        argument_spec=dict(
            target=dict(type="list", elements="str", required=True, aliases=["targets"]),
            conns=dict(type="int", required=True),
            source_ips=dict(type="list", elements="str"),
            sources=dict(type="int"),
            rate=dict(type="int"),
            ramp=dict(
                type="dict",
                options=dict(
                    step=dict(type="int", required=True),
                    seconds=dict(type="float", required=True),
                ),
            ),
            hold=dict(type="float", default=2.0),
            send=dict(type="int", default=0),
            nofile=dict(type="int"),
            processes=dict(type="int"),
            connect_timeout=dict(type="float", default=5.0),
            fail_short=dict(type="bool", default=False),
        ),
        mutually_exclusive=[("source_ips", "sources")],
        supports_check_mode=True,
    )
    tunekit_ops.finish(module, tunekit_ops.probed)


if __name__ == "__main__":
    main()
