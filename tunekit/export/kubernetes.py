"""export kubernetes: the sysctls a pod may set, as a securityContext.sysctls fragment, and
the ones it may not, apart.

The catalogue's scope decides: a per-namespace key (scope netns) is the pod's; it is in
the kubelet's safe set when its entry says so (kubernetes_safe, from pkg/kubelet/sysctl/
safe_sysctls.go), otherwise the kubelet must allow it (--allowed-unsafe-sysctls, or
allowedUnsafeSysctls in its configuration file). A global key belongs to the node: a pod
that names one is refused or changes every pod on the node. Kubernetes itself calls every
`net.*` key namespaced, which the running kernel does not bear out (tcp_mem, the
conntrack table size and the core buffer maxima are the initial namespace's).
"""

from __future__ import annotations

from tunekit.export import Exported, ExportFile, header_lines, yaml
from tunekit.lint.rules import parse_version
from tunekit.model.facts import HostFacts
from tunekit.model.plan import Plan, Setting
from tunekit.persist.writers import sysctl_d

POD = "pod-sysctls.yaml"
KUBELET = "kubelet-config.yaml"
NODE = "node-sysctls.yaml"
NODE_NOTE = (
    "these belong to the node, not to a pod: set them with TuneD (`tunekit export tuned`; "
    "on OpenShift the Node Tuning Operator's Tuned resources), a privileged DaemonSet, or "
    "the node image's sysctl.d (`tunekit export sysctl`)"
)


def where(s: Setting, kernel: str | None) -> str:
    """pod-safe, pod-unsafe or node."""
    if s.key.scope != "netns":
        return "node"
    since = s.key.kubernetes_safe
    if since is None:
        return "pod-unsafe"
    try:
        old = bool(since) and kernel is not None and parse_version(kernel) < parse_version(since)
    except ValueError:
        old = False
    return "pod-unsafe" if old else "pod-safe"


def _entry(s: Setting) -> dict:
    return {"name": s.key.name, "value": s.text}


def export(plan: Plan, facts: HostFacts) -> Exported:
    decided = plan.decided
    sysctls = sysctl_d.settings(decided) if decided else []
    params = [s for s in decided.settings if s.to_modprobe] if decided else []
    split: dict[str, list[Setting]] = {"pod-safe": [], "pod-unsafe": [], "node": []}
    for s in sysctls:
        split[where(s, facts.kernel)].append(s)
    head = header_lines(plan, "kubernetes")
    items: list = []
    if split["pod-safe"]:
        items.append(yaml.Comment("in the kubelet's safe set: allowed on every node"))
        items += [_entry(s) for s in split["pod-safe"]]
    if split["pod-unsafe"]:
        items.append(
            yaml.Comment(
                "per network namespace but not in the safe set: the kubelet must allow "
                f"them ({KUBELET})"
            )
        )
        items += [_entry(s) for s in split["pod-unsafe"]]
    files = [
        ExportFile(
            path=POD,
            content=yaml.dump(
                {"securityContext": {"sysctls": items}},
                head + ["", "Merge into the pod's spec (spec.securityContext.sysctls)."],
            ),
        )
    ]
    notes = []
    if split["pod-unsafe"]:
        names = [s.key.name for s in split["pod-unsafe"]]
        files.append(
            ExportFile(
                path=KUBELET,
                content=yaml.dump(
                    {
                        "apiVersion": "kubelet.config.k8s.io/v1beta1",
                        "kind": "KubeletConfiguration",
                        "allowedUnsafeSysctls": names,
                    },
                    [
                        "The kubelet's configuration file (or its flag",
                        f"--allowed-unsafe-sysctls={','.join(names)}) on the nodes that run the "
                        "pod;",
                        "without it the pod is rejected (SysctlForbidden).",
                    ],
                ),
            )
        )
        notes.append("unsafe sysctls need the kubelet's allowance: " + ", ".join(names))
    node = [
        {"name": s.key.name, "value": s.text, "scope": s.key.scope, "why": s.reason}
        for s in split["node"] + params
    ]
    if node or (decided and decided.nofile):
        limits = []
        if decided and decided.nofile:
            limits.append(
                "open files: a container's RLIMIT_NOFILE comes from the container runtime "
                "(LimitNOFILE of containerd's or CRI-O's service, or its default ulimits), "
                f"not from the pod: hard {decided.nofile.hard}"
            )
        files.append(
            ExportFile(
                path=NODE,
                content=yaml.dump(
                    {"node": {"sysctls": node, "limits": limits}},
                    ["Not a Kubernetes object: what the node must carry.", NODE_NOTE],
                ),
            )
        )
        notes.append(NODE_NOTE)
    if not sysctls and not params:
        notes.append("this host already meets every target: nothing to set")
    return Exported(files=files, notes=notes)
