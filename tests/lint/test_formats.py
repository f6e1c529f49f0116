"""lint reads tuning written for containers and configuration management: YAML (compose
and Kubernetes `sysctls`, Ansible's sysctl, pam_limits, lineinfile, blockinfile and copy
tasks, Salt's sysctl.present, a role's variables) and Dockerfiles; each setting on its
own line of the file, judged as the same line of a sysctl.d or limits file would be."""

from __future__ import annotations

import json
import subprocess

from helpers import require_privileges, run_tunekit
from lint_reference import reference_host, run

from tunekit.host import confparse, confyaml
from tunekit.lint import engine as lint


def settings(text: str) -> list[tuple[int, str, str, str]]:
    parsed = confparse.parse(text, "f", "yaml")
    return [(s.line, s.kind, s.key, s.value) for s in parsed.settings]


COMPOSE = """\
services:
  db:
    image: postgres
    sysctls:
      net.core.somaxconn: 8192
      vm.swappiness: 10
  cache:
    build: ./cache
    sysctls:
      - net.ipv4.tcp_fin_timeout=20
      - net.core.rmem_max=16777216
"""


def test_compose_sysctls_as_a_mapping_and_as_a_list():
    assert settings(COMPOSE) == [
        (5, "sysctl", "net.core.somaxconn", "8192"),
        (6, "sysctl", "vm.swappiness", "10"),
        (10, "sysctl", "net.ipv4.tcp_fin_timeout", "20"),
        (11, "sysctl", "net.core.rmem_max", "16777216"),
    ]
    assert confparse.detect(COMPOSE) == "yaml"


def test_a_runtime_refuses_a_host_wide_key_and_one_a_container_cannot_write():
    """runc sets only keys of the container's namespaces; rmem_max is read-only in a
    child network namespace: both stop the container. The container's keys are not the
    host's boot state."""
    report = run(COMPOSE, "yaml", reference_host())
    by_line = {f.line: (f.rule, f.verdict) for f in report.findings if f.verdict == "dead"}
    assert by_line == {
        6: ("runtime-not-namespaced", "dead"),
        11: ("runtime-not-in-child", "dead"),
    }
    assert report.changes_at_boot == []


def test_sysctls_that_are_no_container_s_are_the_host_s():
    """An Ansible role's variables named `sysctls` (no image, no build, no
    securityContext) are settings a task writes on the host: nothing a runtime refuses."""
    role = "sysctls:\n  vm.swappiness: 10\n  net.core.rmem_max: 16777216\n"
    report = run(role, "yaml", reference_host())
    assert [s[2] for s in settings(role)] == ["vm.swappiness", "net.core.rmem_max"]
    assert not [f for f in report.findings if f.rule.startswith("runtime-")]


def test_each_container_is_its_own_and_none_is_the_host():
    """Two services, two network namespaces: neither overrides the other nor a host
    line; a container's tcp_dsack does not depend on the host's tcp_sack; an alias shared
    by two services is read once; a service with the host's network gets no net.* key."""
    host = "net.core.somaxconn = 8192\nnet.ipv4.tcp_sack = 0\nvm.dirty_ratio = 30\n"
    compose = """\
x-common: &sys
  net.ipv4.tcp_fin_timeout: 20
services:
  web:
    image: nginx
    sysctls:
      net.core.somaxconn: 4096
      net.ipv4.tcp_dsack: 1
  db:
    image: postgres
    sysctls:
      net.core.somaxconn: 1024
      vm.dirty_bytes: 268435456
  cache:
    sysctls: *sys
  worker:
    sysctls: *sys
  edge:
    image: haproxy
    network_mode: host
    sysctls:
      - net.ipv4.ip_local_port_range=1024 65000
"""
    report = lint.lint(
        [("host.conf", host, "sysctl.conf"), ("compose.yml", compose, "yaml")], reference_host()
    )
    by = {(f.file, f.line, f.rule) for f in report.findings}
    assert not {r for r in by if r[2] in ("overridden", "zeroed", "needs-other")}, by
    assert ("compose.yml", 13, "runtime-not-namespaced") in by  # vm.dirty_bytes
    assert ("compose.yml", 22, "runtime-host-namespace") in by
    assert [s.line for s in confparse.parse(compose, "f", "yaml").settings].count(2) == 1


def test_a_kubernetes_pod_s_sysctls():
    pod = """\
apiVersion: v1
kind: Pod
spec:
  securityContext:
    sysctls:
    - name: net.ipv4.ip_local_port_range
      value: "1024 65000"
    - name: kernel.shm_rmid_forced
      value: "0"
"""
    assert settings(pod) == [
        (7, "sysctl", "net.ipv4.ip_local_port_range", "1024 65000"),  # the value's line
        (9, "sysctl", "kernel.shm_rmid_forced", "0"),
    ]
    dead = [f for f in run(pod, "yaml", reference_host()).findings if f.verdict == "dead"]
    assert dead == []  # both are the container's own (net.*, IPC)


ANSIBLE = """\
- hosts: all
  tasks:
    - name: somaxconn
      ansible.posix.sysctl:
        name: net.core.somaxconn
        value: "1024"
        state: present
    - name: free form
      sysctl: name=vm.swappiness value=1 sysctl_set=yes
    - name: gone
      sysctl:
        name: net.ipv4.tcp_tw_recycle
        state: absent
    - name: a loop
      sysctl:
        name: "{{ item.name }}"
        value: "{{ item.value }}"
      loop:
        - { name: net.ipv4.tcp_sack, value: 0 }
        - name: net.ipv4.tcp_fin_timeout
          value: 15
    - name: a dict
      sysctl: name={{ item.key }} value={{ item.value }}
      with_dict:
        fs.file-max: 2000000
    - name: a variable only the play knows
      sysctl:
        name: net.core.netdev_max_backlog
        value: "{{ backlog }}"
    - pam_limits:
        domain: "*"
        limit_type: "-"
        limit_item: nofile
        value: "65536"
    - lineinfile:
        path: /etc/sysctl.conf
        line: "net.ipv4.tcp_syncookies = 2"
    - blockinfile:
        path: /etc/security/limits.d/90-app.conf
        block: |
          app soft nofile 4096
          app hard nofile 8192
    - copy:
        dest: /tmp/notes.txt
        content: "net.ipv4.tcp_sack = 0"
"""


def test_ansible_tasks_write_what_their_module_writes():
    assert settings(ANSIBLE) == [
        (6, "sysctl", "net.core.somaxconn", "1024"),  # the value's line
        (9, "sysctl", "vm.swappiness", "1"),
        (19, "sysctl", "net.ipv4.tcp_sack", "0"),
        (20, "sysctl", "net.ipv4.tcp_fin_timeout", "15"),
        (25, "sysctl", "fs.file-max", "2000000"),
        (31, "limits", "nofile", "65536"),
        (37, "sysctl", "net.ipv4.tcp_syncookies", "2"),
        (41, "limits", "nofile", "4096"),
        (42, "limits", "nofile", "8192"),
    ]
    rules = {(f.line, f.rule) for f in run(ANSIBLE, "yaml", reference_host()).findings}
    assert (19, "feature-off") in rules  # judged as the same sysctl.conf line would be
    assert (37, "syncookies-always") in rules
    assert (6, "lowers-a-limit") in rules


def test_settings_kept_as_variables_for_a_play_to_write():
    """A role's defaults: a list of name/value items, or a mapping of sysctl names, under
    any variable name; read once each (a task's loop items are its task's)."""
    defaults = """\
sysctl_settings:
  - name: net.core.somaxconn
    value: 4096
  - name: not.a.sysctl.name
    value: 1
kernel_params:
  vm.swappiness: 10
  fs.file-max: 2000000
"""
    assert settings(defaults) == [
        (2, "sysctl", "net.core.somaxconn", "4096"),
        (7, "sysctl", "vm.swappiness", "10"),
        (8, "sysctl", "fs.file-max", "2000000"),
    ]


def test_pam_limits_items_kept_as_variables_take_the_domain_above_them():
    vars_file = """\
os:
  ulimit:
    domain: '*'
    entries:
      - { limit_name: 'nofile', limit_type: 'soft', limit_value: 278528 }
      - { limit_name: 'cpu', limit_type: '-', limit_value: 'unlimited' }
"""
    assert settings(vars_file) == [
        (5, "limits", "nofile", "278528"),
        (6, "limits", "cpu", "unlimited"),
    ]
    rules = {(f.line, f.rule) for f in run(vars_file, "yaml", reference_host()).findings}
    assert (6, "limit-is-default") in rules and (5, "wildcard-not-root") in rules
    assert (6, "wildcard-not-root") not in rules  # root keeps the same default: no matter


def test_ansible_writes_booleans_as_numbers_and_absent_tasks_write_nothing():
    """ansible.posix's sysctl writes yes/on/true as 1 and no/off/false as 0; a task or a
    lineinfile with state: absent (or a state only the play knows) writes nothing."""
    tasks = """\
- sysctl: {name: net.ipv4.tcp_syncookies, value: yes}
- sysctl: {name: net.ipv4.tcp_sack, value: "off"}
- sysctl: {name: net.ipv4.tcp_nosuch, value: 1, state: absent}
- sysctl: {name: "{{ item.n }}", value: 1, state: "{{ item.s }}"}
  loop:
    - {n: net.ipv4.tcp_nosuch2, s: absent}
- lineinfile: {path: /etc/sysctl.conf, line: "net.ipv4.tcp_nosuch3 = 1", state: absent}
"""
    assert settings(tasks) == [
        (1, "sysctl", "net.ipv4.tcp_syncookies", "1"),
        (2, "sysctl", "net.ipv4.tcp_sack", "0"),
    ]


def test_a_salt_state():
    state = """\
net.core.somaxconn:
  sysctl.present:
    - value: 65535
tune_sack:
  sysctl.present:
    - name: net.ipv4.tcp_sack
    - value: 1
"""
    assert settings(state) == [
        (3, "sysctl", "net.core.somaxconn", "65535"),  # the value's line
        (7, "sysctl", "net.ipv4.tcp_sack", "1"),
    ]


COMMANDS = """\
- hosts: all
  tasks:
    - name: no shell runs it
      command: echo 4096 > /proc/sys/net/core/somaxconn
    - shell: echo 8192 > /proc/sys/net/core/somaxconn
    - command: sysctl -w net.ipv4.tcp_fin_timeout=20
    - shell: "sysctl -w {{ item }}"
      with_items:
        - net.ipv4.tcp_sack=0
        - net.ipv4.tcp_syn_retries=3
    - shell: |
        sysctl -w net.ipv4.tcp_keepalive_time=600
        echo 30 > /proc/sys/net/ipv4/tcp_keepalive_intvl
    - command:
        argv: [sysctl, -w, net.ipv4.tcp_keepalive_probes=5]
    - command:
        cmd: sh -c "echo 1 > /proc/sys/net/ipv4/tcp_mtu_probing"
"""


def test_ansible_command_lines_are_read_as_the_module_runs_them():
    """shell and raw run the line with /bin/sh; command runs the program itself, so a
    redirection there is a word echo prints (no-shell), while `sysctl -w` still works."""
    assert settings(COMMANDS) == [
        (4, "sysctl", "net.core.somaxconn", "4096"),
        (5, "sysctl", "net.core.somaxconn", "8192"),
        (6, "sysctl", "net.ipv4.tcp_fin_timeout", "20"),
        (9, "sysctl", "net.ipv4.tcp_sack", "0"),  # each item on its own line
        (10, "sysctl", "net.ipv4.tcp_syn_retries", "3"),
        (12, "sysctl", "net.ipv4.tcp_keepalive_time", "600"),  # a block's own lines
        (13, "sysctl", "net.ipv4.tcp_keepalive_intvl", "30"),
        (15, "sysctl", "net.ipv4.tcp_keepalive_probes", "5"),
        (17, "sysctl", "net.ipv4.tcp_mtu_probing", "1"),
    ]
    findings = run(COMMANDS, "yaml", reference_host()).findings
    no_shell = [f.line for f in findings if f.rule == "no-shell"]
    assert no_shell == [4]
    # a write that never happens is not overridden, and "it changes nothing" is moot
    assert [f.rule for f in findings if f.line == 4] == ["no-shell"]
    assert (9, "feature-off") in {(f.line, f.rule) for f in findings}


CLOUD_CONFIG = """\
#cloud-config
write_files:
  - path: /etc/sysctl.d/90-tune.conf
    content: |
      net.ipv4.tcp_tw_recycle = 1
      net.core.somaxconn = 16384
  - path: /etc/motd
    content: "net.ipv4.tcp_sack = 0"
  - path: /etc/sysctl.d/91-b64.conf
    encoding: b64
    content: bmV0LmlwdjQudGNwX3NhY2sgPSAwCg==
bootcmd:
  - echo 0 > /proc/sys/net/ipv4/tcp_sack
runcmd:
  - [sh, -c, "echo 5 > /proc/sys/net/ipv4/tcp_syn_retries"]
  - [echo, "1", ">", /proc/sys/net/ipv4/tcp_syncookies]
  - sysctl -w net.ipv4.tcp_keepalive_time=600000
"""


def test_cloud_init_runs_its_commands_and_writes_its_files_as_cloud_init_does(tmp_path):
    """A string item is run by sh, a list item execve'd (no shell: the > is echo's
    word); write_files' content is read as the file it writes (not a motd).
    The first line, #cloud-config, is enough to read the file as YAML."""
    assert settings(CLOUD_CONFIG) == [  # in the order cloud-init runs them
        (13, "sysctl", "net.ipv4.tcp_sack", "0"),
        (5, "sysctl", "net.ipv4.tcp_tw_recycle", "1"),
        (6, "sysctl", "net.core.somaxconn", "16384"),
        (11, "sysctl", "net.ipv4.tcp_sack", "0"),  # base64, decoded as cloud-init does
        (15, "sysctl", "net.ipv4.tcp_syn_retries", "5"),
        (16, "sysctl", "net.ipv4.tcp_syncookies", "1"),
        (17, "sysctl", "net.ipv4.tcp_keepalive_time", "600000"),
    ]
    rules = {(f.line, f.rule) for f in run(CLOUD_CONFIG, "yaml", reference_host()).findings}
    assert {(5, "tw-recycle-removed"), (13, "feature-off"), (16, "no-shell")} <= rules, rules
    assert (17, "milliseconds-meant") in rules and (15, "no-shell") not in rules
    user_data = tmp_path / "user-data"
    user_data.write_text(CLOUD_CONFIG)
    r = run_tunekit("lint", "--json", "--fail-on", "none", str(user_data))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["files"][0]["format"] == "yaml"


NIX = """\
{ config, lib, pkgs, ... }:
let backlog = 8192; in
{
  systemd.services.clean.script = ''
    rm -f /tmp/cache/*
    echo "it's ''${HOME} fine
  '';
  # "net.ipv4.tcp_sack" = 0;
  boot.kernel.sysctl = lib.mkMerge [
    (lib.mkIf true {
      "net.core.somaxconn" = lib.mkForce 010;
      "net.ipv4.tcp_timestamps" = false;
      "net.ipv4.tcp_window_scaling" = null;
      "net.core.netdev_max_backlog" = "${toString backlog}";
      "net/ipv4/tcp_fin_timeout" = 30; /* a comment "with quotes" */
    })
  ];
  boot.kernel.sysctl."vm.swappiness" = mkDefault 10;
  containers.web.config = { ... }: {
    boot.kernel.sysctl."net.ipv4.tcp_keepalive_time" = 600;
  };
  virtualisation.vmVariant.boot.kernel.sysctl."vm.dirty_ratio" = 5;
  services.x.description = "boot.kernel.sysctl.\\"vm.overcommit_memory\\" = 2;";
  security.pam.loginLimits = [
    { domain = "*"; type = "soft"; item = "nofile"; value = "65536"; }
  ];
  systemd.services.web.serviceConfig.LimitNOFILE = 1048576;
}
"""


def test_a_nixos_module_is_read_as_nixos_writes_it():
    """Strings and comments as Nix's lexer reads them (a /* in a script, a quote in an
    indented string, a commented line), only the module's own boot.kernel.sysctl (not a
    container's, not a VM variant's, not text in a string), literals as NixOS writes them
    (010 -> 10, false -> 0, null: nothing), an interpolation not judged."""
    parsed = confparse.parse(NIX, "f.nix", "nix")
    got = [(s.line, s.kind, s.key, s.value) for s in parsed.settings]
    assert got == [
        (11, "sysctl", "net.core.somaxconn", "10"),
        (12, "sysctl", "net.ipv4.tcp_timestamps", "0"),
        (15, "sysctl", "net.ipv4.tcp_fin_timeout", "30"),
        (18, "sysctl", "vm.swappiness", "10"),
        (25, "limits", "nofile", "65536"),
        (27, "limits", "nofile", "1048576"),
    ], got
    assert [s.priority for s in parsed.settings[:4]] == [50, 100, 100, 1000]


def test_nixos_systemd_defaults_and_a_multi_line_limits_entry():
    """systemd.settings.Manager.DefaultLimitNOFILE is system.conf's; a loginLimits entry
    over several lines is reported on its value's line."""
    text = (
        '{\n  systemd.settings.Manager = {\n    DefaultLimitNOFILE = "1048576";\n  };\n'
        '  security.pam.loginLimits = [\n    {\n      domain = "*";\n      item = "memlock";\n'
        '      type = "-";\n      value = "unlimited";\n    }\n  ];\n}\n'
    )
    got = [(s.line, s.kind, s.key, s.value) for s in confparse.parse(text, "f.nix", "nix").settings]
    assert got == [
        (3, "systemd", "DefaultLimitNOFILE", "1048576"),
        (10, "limits", "memlock", "unlimited"),
    ], got


TUNED = """\
[main]
summary=Optimize for something
include=throughput-performance

[vm]
transparent_hugepages=always
dirty_background_bytes=3%
dirty_bytes=80%

[sysctl]
net.ipv4.tcp_rmem="4096 87380 16777216"
vm.swappiness=1 # inline
kernel.sched_min_granularity_ns=>10000000
net.core.somaxconn=${f:some_function}

[scheduler]
sched_latency_ns=60000000
sched_migration_cost_ns=500000
"""


def test_a_tuned_profile_is_read_as_tuned_writes_it(tmp_path):
    """[sysctl] values unquoted (commands.py unquote), `#` inline comments dropped by its
    configparser, a `>` modifier or a ${variable} not judged; [vm] dirty_bytes with % is
    the ratio (plugin_vm.py); [scheduler] knobs are debugfs writes, and the two EEVDF
    dropped in 6.6 are dead there."""
    got = [(s.line, s.kind, s.key, s.value) for s in confparse.parse(TUNED, "f", "tuned").settings]
    assert got == [
        (6, "sysfs", "/sys/kernel/mm/transparent_hugepage/enabled", "always"),
        (7, "sysctl", "vm.dirty_background_ratio", "3"),
        (8, "sysctl", "vm.dirty_ratio", "80"),
        (11, "sysctl", "net.ipv4.tcp_rmem", "4096 87380 16777216"),
        (12, "sysctl", "vm.swappiness", "1"),
        (17, "sysfs", "/sys/kernel/debug/sched/latency_ns", "60000000"),
        (18, "sysfs", "/sys/kernel/debug/sched/migration_cost_ns", "500000"),
    ], got
    rules = {(f.line, f.rule) for f in run(TUNED, "tuned", reference_host()).findings}
    assert (17, "sched-knob-dropped") in rules and (18, "sched-knob-dropped") not in rules
    assert not {r for line, r in rules if line == 11} & {"quoted", "inline-comment"}
    profile = tmp_path / "tuned.conf"
    profile.write_text(TUNED)
    doc = json.loads(run_tunekit("lint", "--json", "--fail-on", "none", str(profile)).stdout)
    assert doc["files"][0]["format"] == "tuned"


def test_nixos_keeps_the_strongest_definition_whatever_the_file_order():
    """mkForce beats a later plain definition, a plain one beats mkDefault; rmem_max
    takes the largest (nixpkgs nixos/modules/config/sysctl.nix)."""
    force = '{ boot.kernel.sysctl = { "net.core.somaxconn" = lib.mkForce 8192; "vm.swappiness" = lib.mkDefault 10; }; }\n'
    later = '{ boot.kernel.sysctl = { "net.core.somaxconn" = 16384; "vm.swappiness" = 20; }; }\n'
    rmem = '{ boot.kernel.sysctl."net.core.rmem_max" = 16777216; }\n'
    rmem2 = '{ boot.kernel.sysctl."net.core.rmem_max" = 8388608; }\n'
    inputs = [("a.nix", force, "nix"), ("b.nix", later, "nix"), ("c.nix", rmem, "nix")]
    inputs.append(("d.nix", rmem2, "nix"))
    report = lint.lint(inputs, reference_host())
    overridden = {(f.file, f.key) for f in report.findings if f.rule == "overridden"}
    assert overridden == {
        ("b.nix", "net.core.somaxconn"),
        ("a.nix", "vm.swappiness"),
        ("d.nix", "net.core.rmem_max"),
    }, overridden


ANSIBLE_DETAILS = """\
- hosts: all
  tasks:
    - shell: echo 4096 > /proc/sys/net/core/somaxconn chdir=/tmp creates=/x
    - ansible.legacy.command: echo 1 > /proc/sys/net/ipv4/tcp_sack
    - ansible.builtin.shell:
      args:
        cmd: echo 30 > /proc/sys/net/ipv4/tcp_fin_timeout
    - command: ulimit -n 65536
"""


def test_ansible_takes_its_options_out_of_the_free_form_and_legacy_names_count():
    """splitter.py parse_kv: chdir= and creates= are the module's, not echo's words; a
    legacy module is the builtin one; `args: cmd:` is the command; ulimit is a builtin,
    so the command module, which runs no shell, cannot run it."""
    assert settings(ANSIBLE_DETAILS) == [
        (3, "sysctl", "net.core.somaxconn", "4096"),
        (4, "sysctl", "net.ipv4.tcp_sack", "1"),
        (7, "sysctl", "net.ipv4.tcp_fin_timeout", "30"),
        (8, "ulimit", "nofile", "65536"),
    ]
    rules = {(f.line, f.rule) for f in run(ANSIBLE_DETAILS, "yaml", reference_host()).findings}
    assert {(4, "no-shell"), (8, "no-shell")} <= rules and (3, "no-shell") not in rules


CLOUD_DETAILS = """\
#cloud-config
write_files:
  - path: /etc/sysctl.d/./90-a.conf
    encoding: B64
    content: bmV0LmlwdjQudGNwX3NhY2sgPSAwCg==
  - path: /etc/sysctl.d/91-b.conf
    content: !!binary |
      bmV0LmlwdjQudGNwX3RpbWVzdGFtcHMgPSAwCg==
  - path: /etc/sysctl.d/92-c.conf
    encoding: something-else
    content: net.ipv4.tcp_window_scaling = 0
runcmd:
  - P=/proc/sys/net/ipv4
  - echo 5 > $P/tcp_syn_retries
"""


def test_cloud_init_decodes_what_it_decodes_and_runs_runcmd_as_one_script():
    """cc_write_files.py: the encoding lower-cased, b64 decoded, !!binary already bytes,
    an unknown encoding taken as text, the path normalised; runcmd's items are one
    script, so $P set in one item reaches the next."""
    assert settings(CLOUD_DETAILS) == [
        (5, "sysctl", "net.ipv4.tcp_sack", "0"),
        (7, "sysctl", "net.ipv4.tcp_timestamps", "0"),
        (11, "sysctl", "net.ipv4.tcp_window_scaling", "0"),
        (14, "sysctl", "net.ipv4.tcp_syn_retries", "5"),
    ]


JINJA = """\
- blockinfile:
    dest: /etc/security/limits.conf
    block: |
      {{ deploy_user }}        soft        nofile        1000000
      {{ deploy_user }}        hard        nofile        {{ max_files }}
      {{ app_user }}   soft   nofile   65536
      {{ db_user }}    hard   nofile   4096
      {% if big %}
      *        soft        stack         10240
      {% else %}
      *        soft        stack         8192
      {% endif %}
      {# *  hard  nofile  x #}
"""


def test_a_template_in_text_ansible_writes_is_one_word_the_play_renders():
    """`{{ deploy_user }} soft nofile 1000000` is a line for one account once rendered: it
    is read (no syntax error), each expression its own account; a line whose value is a
    template, the lines of a `{% if %}` block (only the play knows the branch) and a
    `{# #}` comment are left out."""
    assert settings(JINJA) == [
        (4, "limits", "nofile", "1000000"),
        (6, "limits", "nofile", "65536"),
        (7, "limits", "nofile", "4096"),
    ]
    findings = run(JINJA, "yaml", reference_host()).findings
    assert not {f.verdict for f in findings} & {"syntax", "dead", "harmful"}, findings


def test_pam_limits_spellings_of_unlimited_are_unlimited():
    """pam_limits.c process_limit: -1, -, unlimited and infinity are RLIM_INFINITY (but
    for priority and nice, which take signed numbers): never a syntax error, never lower."""
    parsed = confparse.parse("* soft nofile -1\n* hard nofile -\n* - nice -1\n", "f", "limits.conf")
    assert [(s.key, s.value, s.problem) for s in parsed.settings] == [
        ("nofile", "unlimited", None),
        ("nofile", "unlimited", None),
        ("nice", "-1", None),
    ]
    report = run("* soft nofile -1\n* hard nofile -\n", "limits.conf")
    assert not {f.rule for f in report.findings} & {"limit-lowered", "bad-limit-value"}


def test_hostile_yaml_is_bounded_and_never_a_traceback(tmp_path):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n"
    for n in range(1, 12):
        bomb += f"a{n}: &a{n} [*a{n - 1 if n > 1 else ''}, *a{n - 1 if n > 1 else ''}]\n".replace(
            "*a0", "*a"
        )
    bomb += "sysctls: {net.core.somaxconn: 1}\n"
    assert [s.key for s in confparse.parse(bomb, "f", "yaml").settings] == ["net.core.somaxconn"]
    broken = confparse.parse("sysctls: [unclosed\n", "f", "yaml")
    assert broken.settings == [] and "not read as YAML" in broken.unread[0]
    marker = tmp_path / "ran"
    tagged = f"x: !!python/object/apply:os.system ['touch {marker}']\n"
    assert confparse.parse(tagged, "f", "yaml").settings == []
    assert not marker.exists()  # composed, never constructed: no tag runs
    wide = "sysctls:\n" + "".join(f"  - net.x{n}=1\n" for n in range(confyaml.MAX_NODES + 10))
    assert confparse.parse(wide, "f", "yaml").unread


def test_the_command_reads_a_yaml_file_by_its_name_and_by_its_lines(tmp_path):
    named = tmp_path / "docker-compose.yml"
    named.write_text(COMPOSE)
    unnamed = tmp_path / "tasks"
    unnamed.write_text(ANSIBLE)
    for path in (named, unnamed):
        res = run_tunekit("lint", "--json", "--fail-on", "none", str(path))
        assert res.returncode == 0, res.stderr
        doc = json.loads(res.stdout)
        assert doc["findings"] and {f["file"] for f in doc["findings"]} == {str(path)}


def test_a_dockerfile_s_run_lines_are_the_image_s_build():
    """RUN lines are shell, run while the image is built: a sysctl written there never
    reaches a container (dead), a limits.conf line never meets PAM (no-op)."""
    dockerfile = "\n".join(
        [
            "FROM debian:12",  # 1
            "ENV X=1",  # 2
            "RUN echo 'vm.max_map_count = 262144' >> /etc/sysctl.conf && \\",  # 3
            "    sysctl -w net.core.somaxconn=4096 || true",  # 4
            "RUN echo '* soft nofile 65535' >> /etc/security/limits.conf",  # 5
            'RUN ["sysctl", "-w", "net.ipv4.tcp_sack=0"]',  # 6: exec form, not shell
            "CMD sysctl -p && exec app",  # 7: runs in the container, not the build
        ]
    )
    parsed = confparse.parse(dockerfile, "Dockerfile", "dockerfile")
    assert [(s.line, s.key, s.context) for s in parsed.settings] == [
        (3, "vm.max_map_count", "image"),
        (4, "net.core.somaxconn", "image"),  # the continuation line it is on
        (5, "nofile", "image"),
    ]
    rules = {(f.key, f.rule, f.verdict) for f in run(dockerfile, "dockerfile").findings}
    assert ("vm.max_map_count", "image-sysctl", "dead") in rules
    assert ("nofile", "image-limits", "dead") in rules
    # known by its lines when its name does not say: FROM first, then RUN
    assert confparse.detect(dockerfile) == "dockerfile"
    assert confparse.detect("# FROM the guide\nnet.core.somaxconn = 1\n") == "sysctl.conf"


def test_a_unit_s_limits_are_that_service_s():
    """[Service] Limit*= lines: the service's own limits (no PAM involved), sizes read as
    systemd writes them (bytes, K/M/G) and compared in limits.conf's KiB; infinity for
    nofile is what systemd cannot give, so it gives nr_open."""
    unit = "\n".join(
        [
            "[Unit]",  # 1
            "Description=x",  # 2
            "[Service]",  # 3
            "LimitNOFILE=infinity",  # 4
            "LimitAS=infinity",  # 5
            "LimitSTACK=8M",  # 6: 8192 KiB, the soft default
            "LimitCORE=0:infinity",  # 7: soft 0, hard unlimited: both defaults
            "LimitNPROC=4096",  # 8
        ]
    )
    parsed = confparse.parse(unit, "x.service", "system.conf")
    assert [(s.line, s.key, s.type, s.value) for s in parsed.settings] == [
        (4, "nofile", "-", "unlimited"),
        (5, "as", "-", "unlimited"),
        (6, "stack", "-", "8192"),
        (7, "core", "soft", "0"),
        (7, "core", "hard", "unlimited"),
        (8, "nproc", "-", "4096"),
    ]
    rules = {
        (f.line, f.rule) for f in run(unit, "system.conf", reference_host(systemd=True)).findings
    }
    assert (4, "unit-nofile-infinity") in rules and (5, "limit-is-default") in rules
    assert {(7, "limit-is-default")} <= rules
    assert not {r for _, r in rules if r in ("limits-reach-logins-only", "wildcard-not-root")}


def test_a_quoted_content_is_one_line_and_a_yaml_name_on_sysctl_lines_is_read():
    """copy's content in double quotes with \\n escapes sits on one line of the file: every
    setting in it is reported there; a .yaml file that holds sysctl.conf lines is read as
    one, not passed as empty."""
    tasks = """- copy:
    dest: /etc/sysctl.d/90-x.conf
    content: "net.core.somaxconn = 1024\\nvm.swappiness = 10\\n"
- copy:
    dest: /etc/sysctl.d/91-x.conf
    content: "net.ipv4.tcp_sack = 1"
"""
    assert [(s.line, s.key) for s in confparse.parse(tasks, "f", "yaml").settings] == [
        (3, "net.core.somaxconn"),
        (3, "vm.swappiness"),
        (6, "net.ipv4.tcp_sack"),
    ]
    plain = confparse.parse("net.core.somaxconn = 1024\n", "tuning.yaml", "yaml")
    assert [(s.line, s.key) for s in plain.settings] == [(1, "net.core.somaxconn")]


def test_a_container_key_a_new_namespace_lacks_is_measured_there():
    """No catalogue entry says net.core.bpf_jit_enable is absent in a child namespace: a
    namespace made for the purpose does (host/freshns.py), so a container's line is dead."""
    require_privileges()
    from pathlib import Path

    from tunekit.lint.host import Host as LintHost

    compose = "services:\n  a:\n    image: x\n    sysctls:\n      net.core.bpf_jit_enable: 1\n"
    assert Path("/proc/sys/net/core/bpf_jit_enable").exists(), "this kernel has no BPF JIT key"
    report = lint.lint([("c.yml", compose, "yaml")], LintHost.of_root(Path("/")))
    assert [(f.line, f.rule) for f in report.findings] == [(5, "runtime-not-in-child")]


CHEF = """\
default['sysctl']['params']['net']['ipv4']['tcp_sack'] = 0
node.default['fb_sysctl']['net.ipv4.tcp_timestamps'] = 0
default[:sysctl][:values]['kernel.pid_max'] = 4_194_304 # threads
default['sysctl']['params']['vm']['swappiness'] = node['memory']['total'].to_i / 100
default['app']['net']['port'] = 80
sysctl 'net.ipv4.tcp_window_scaling' do
  value 0
end
sysctl 'net.ipv4.tcp_dsack' do
  action :remove
  value 0
end
sysctl_param 'net.ipv4.tcp_syncookies' do  value 0  end
"""


def test_a_chef_cookbook_is_read_for_its_sysctl_attributes_and_resources():
    parsed = confparse.parse(CHEF, "attributes/default.rb", "chef")
    got = [(s.line, s.key, s.value) for s in parsed.settings]
    assert got == [
        (1, "net.ipv4.tcp_sack", "0"),
        (2, "net.ipv4.tcp_timestamps", "0"),
        (3, "kernel.pid_max", "4194304"),  # Ruby's 4_194_304, the comment dropped
        (7, "net.ipv4.tcp_window_scaling", "0"),  # the value's line
        (13, "net.ipv4.tcp_syncookies", "0"),  # a one-line block
    ]  # a computed value, a non-sysctl attribute and a removed key set nothing
    rules = {(f.line, f.rule) for f in run(CHEF, "chef").findings}
    assert (1, "feature-off") in rules and (7, "feature-off") in rules, rules


CHEF_EXECUTE = """\
execute 'sysctl -w net.ipv4.tcp_sack=0'
execute 'echo "* hard nofile 512" | tee -a /etc/security/limits.conf'
execute 'tune' do
  command 'echo 0 > /proc/sys/net/ipv4/tcp_timestamps'
  not_if 'grep -q x /etc/motd'
end
execute 'later' do
  command 'sysctl -w net.ipv4.tcp_dsack=0'
  action :nothing
end
execute "sysctl -w vm.swappiness=#{node['swap']}"
"""


def test_a_chef_execute_resource_runs_its_command_as_root():
    """chef-client runs the name (or `command`) through a shell, as root; one that runs
    only when notified, or whose command Ruby computes, is not read."""
    parsed = confparse.parse(CHEF_EXECUTE, "recipes/default.rb", "chef")
    got = [(s.line, s.key, s.value) for s in parsed.settings]
    assert got == [
        (1, "net.ipv4.tcp_sack", "0"),
        (2, "nofile", "512"),
        (4, "net.ipv4.tcp_timestamps", "0"),  # the command's line
    ], got
    rules = {(f.line, f.rule) for f in run(CHEF_EXECUTE, "chef").findings}
    assert {(1, "feature-off"), (4, "feature-off")} <= rules, rules


def test_a_ruby_file_is_linted_as_chef(tmp_path):
    rb = tmp_path / "default.rb"
    rb.write_text("default['sysctl']['params']['net']['ipv4']['tcp_tw_recycle'] = 1\n")
    r = run_tunekit("lint", "--json", "--fail-on", "none", str(rb))
    found = {(f["line"], f["verdict"]) for f in json.loads(r.stdout)["findings"]}
    assert (1, "dead") in found, r.stdout


def test_a_yaml_map_of_proc_sys_files_and_an_m4_template(tmp_path):
    text = "include(config.m4)\ncluster:\n- sysfs:\n    /proc/sys/net/ipv4/tcp_sack: 0\n"
    text += "    /sys/kernel/mm/transparent_hugepage/enabled: never\n"
    parsed = confparse.parse(text, "cluster-config.yaml.m4", "yaml")
    assert [(s.line, s.kind, s.key, s.value) for s in parsed.settings] == [
        (4, "sysctl", "net.ipv4.tcp_sack", "0"),
        (5, "sysfs", "/sys/kernel/mm/transparent_hugepage/enabled", "never"),
    ]
    # a template is named by what it renders to: cluster-config.yaml.m4 is YAML
    path = tmp_path / "cluster-config.yaml.m4"
    path.write_text(text)
    r = run_tunekit("lint", "--json", "--fail-on", "none", str(path))
    found = {(f["line"], f["rule"]) for f in json.loads(r.stdout)["findings"]}
    assert (4, "feature-off") in found, r.stdout


PUPPET = """\
sysctl { 'net.ipv4.tcp_sack': value => '0' }
sysctl::value { 'net.ipv4.tcp_timestamps':
  value => 0,  # off
}
sysctl { 'net.ipv4.tcp_dsack':
  ensure => absent,
  value  => '0',
}
sysctl { 'vm.swappiness': value => $swappiness }
sysctl::conf { "kernel.pid_max": val => 4194304 }
file_line { 'sack':
  path  => '/etc/sysctl.conf',
  line  => 'net.ipv4.tcp_sack = 0',
  match => '^net.ipv4.tcp_sack',
}
file_line { 'nofile': path => '/etc/security/limits.conf', line => '* hard nofile 512' }
file_line { 'gone':
  ensure => absent,
  path   => '/etc/sysctl.conf',
  line   => 'net.ipv4.tcp_dsack = 0',
}
file_line { 'notes': path => '/etc/motd', line => 'net.ipv4.tcp_dsack = 0' }
"""


def test_a_puppet_manifest_is_read_for_its_sysctl_resources():
    parsed = confparse.parse(PUPPET, "init.pp", "puppet")
    assert [(s.line, s.key, s.value) for s in parsed.settings] == [
        (1, "net.ipv4.tcp_sack", "0"),
        (3, "net.ipv4.tcp_timestamps", "0"),  # the value's line
        (10, "kernel.pid_max", "4194304"),
        (13, "net.ipv4.tcp_sack", "0"),  # stdlib's file_line: its line, in its file
        (16, "nofile", "512"),
    ]  # ensure => absent, a variable's value and a file that is no tuning file set nothing
    assert {(f.line, f.rule) for f in run(PUPPET, "puppet").findings} >= {(1, "feature-off")}


def test_hiera_data_for_a_sysctl_module_is_read():
    text = "sysctl::base::values:\n  net.ipv4.tcp_sack:\n    value: '0'\n"
    text += "  net.ipv4.tcp_dsack:\n    ensure: absent\n    value: '0'\n"
    parsed = confparse.parse(text, "common.yaml", "yaml")
    assert [(s.line, s.key, s.value) for s in parsed.settings] == [(3, "net.ipv4.tcp_sack", "0")]


def test_an_openshift_tuned_resource_carries_a_tuned_profile():
    text = "apiVersion: tuned.openshift.io/v1\nkind: Tuned\nspec:\n  profile:\n  - data: |\n"
    text += "      [main]\n      include=openshift-node\n      [sysctl]\n"
    text += "      net.ipv4.tcp_tw_recycle=1\n    name: es\n"
    got = {(f.line, f.rule) for f in run(text, "yaml").findings}
    assert (9, "tw-recycle-removed") in got, got


POD = """\
spec:
  initContainers:
  - name: tune
    image: busybox
    command: [sysctl, -w, net.ipv4.tcp_sack=0]
  - name: tune-privileged
    image: busybox
    securityContext:
      privileged: true
    command: ["sh", "-c", "sysctl -w net.ipv4.tcp_timestamps=0"]
"""


def test_a_pods_container_commands_are_run_and_an_unprivileged_write_fails():
    got = {(f.line, f.rule, f.verdict) for f in run(POD, "yaml").findings}
    # unprivileged: /proc/sys is read-only, the write fails (what it meant is still judged,
    # as for any command that writes nothing)
    assert (5, "container-proc-read-only", "dead") in got, got
    assert not [g for g in got if g[0] == 10 and g[1] == "container-proc-read-only"], got
    # privileged: the write takes effect, and is judged
    assert (10, "feature-off", "harmful") in got, got


HELM_CONTAINER = """\
{{- define "containers.sysctl" -}}
- name: sysctl
  image: ubuntu:20.04
  command:
  - sysctl
  - -w
  - net.ipv4.tcp_sack=0
  - net.ipv4.tcp_retries2=5
  securityContext:
    privileged: true
{{- end -}}
{{- define "containers.plain" -}}
- name: plain
  image: busybox
  args: ["sysctl", "-w", "net.ipv4.tcp_timestamps=0"]
{{- end -}}
"""


def test_a_container_defined_on_its_own_runs_its_command_each_setting_on_its_line(tmp_path):
    """A Helm template's `define` holds a container outside any pod spec: its command is
    still what the container runs, each setting judged on the list item that sets it."""
    path = tmp_path / "_containers.tpl"
    path.write_text(HELM_CONTAINER)
    r = run_tunekit("lint", "--json", "--fail-on", "none", str(path))
    got = {(f["line"], f["rule"], f["verdict"]) for f in json.loads(r.stdout)["findings"]}
    assert (7, "feature-off", "harmful") in got, got
    assert any(g[0] == 8 and g[2] == "risky" for g in got), got  # tcp_retries2 5
    assert (15, "container-proc-read-only", "dead") in got, got  # not privileged


def test_a_read_only_proc_sys_refuses_the_write_as_a_runtime_mounts_it():
    """What the runtime does to an unprivileged container, done in throw-away mount and
    network namespaces: /proc/sys bound read-only; sysctl -w fails, the value stays."""
    require_privileges()
    script = (
        "mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys && "
        "{ sysctl -q -w net.ipv4.tcp_sack=0; echo rc=$?; } ; cat /proc/sys/net/ipv4/tcp_sack"
    )
    r = subprocess.run(["unshare", "-m", "-n", "sh", "-c", script], capture_output=True, text=True)
    assert r.stdout.split() == ["rc=1", "1"], (r.stdout, r.stderr)


CHEF_BLOCKS = """\
sysctl 'vm.swappiness' do
  value 10
end # a comment closes it as a bare end does
sysctl 'net.ipv4.tcp_keepalive_probes' do
  only_if do
    true
  end
  value 0
end.run_action(:apply)
sysctl('net.ipv4.tcp_sack') do |r|
  r.value 0
end
sysctl('net.ipv4.tcp_dsack') { value 0 }
sysctl 'net.ipv4.tcp_timestamps' do
  value 0
  action :nothing
end
sysctl 'net.ipv4.tcp_rmem' do
  value [4096, 131072, 0x600000]
end
default_unless['sysctl']['params']['kernel']['pid_max'] = 010
default['sysctl_exporter']['net']['port'] = 9100
"""


def test_chef_blocks_end_at_their_own_end_and_values_are_rubys():
    parsed = confparse.parse(CHEF_BLOCKS, "recipes/default.rb", "chef")
    assert [(s.line, s.key, s.value) for s in parsed.settings] == [
        (2, "vm.swappiness", "10"),
        (8, "net.ipv4.tcp_keepalive_probes", "0"),  # after its guard's do ... end
        (11, "net.ipv4.tcp_sack", "0"),
        (13, "net.ipv4.tcp_dsack", "0"),
        # action :nothing applies it only when notified: not read
        (19, "net.ipv4.tcp_rmem", "4096 131072 6291456"),  # an array, joined; 0x hex
        (21, "kernel.pid_max", "8"),  # Ruby's 010 is octal: Chef writes 8
    ]  # an exporter's port under a hash whose name holds "sysctl" is no sysctl


def test_an_images_limits_apply_where_its_command_opens_a_pam_session():
    sshd = "FROM debian\nRUN echo '* soft nofile 65536' >> /etc/security/limits.conf\n"
    sshd += 'CMD ["/usr/sbin/sshd", "-D"]\n'
    assert "image-limits" not in fired_rules(sshd)
    plain = sshd.replace('["/usr/sbin/sshd", "-D"]', '["/app"]')
    assert "image-limits" in fired_rules(plain)


def fired_rules(dockerfile: str) -> set[str]:
    return {f.rule for f in run(dockerfile, "dockerfile").findings}


def test_m4_macros_in_values_are_the_renderings_to_know():
    text = "include(`common.m4')\ndefine(`SWAP', `10')\nsysctls:\n  vm.swappiness: SWAP\n"
    text += "  net.core.somaxconn: ifelse(P, `db', `1', `60')\n  net.ipv4.tcp_sack: 0\n"
    parsed = confparse.parse(text, "x.yaml.m4", "yaml")
    assert [(s.key, s.value) for s in parsed.settings] == [("net.ipv4.tcp_sack", "0")]


def test_a_map_of_proc_sys_paths_is_a_write_only_under_a_key_that_says_so():
    for parent in ("watch", "sysfs_permissions", "expected"):
        text = (
            f"{parent}:\n  /proc/sys/fs/file-nr: file_handles\n  /proc/sys/vm/swappiness: '0200'\n"
        )
        assert confparse.parse(text, "x.yaml", "yaml").settings == [], parent


def test_a_sysctl_conf_template_leaves_its_expressions_to_the_rendering(tmp_path):
    j2 = tmp_path / "sysctl.conf.j2"
    j2.write_text("net.core.somaxconn = {{ somaxconn }}\n{% if x %}\nnet.ipv4.tcp_sack = 0\n")
    erb = tmp_path / "sysctl.conf.erb"
    erb.write_text("<%= k %> = <%= v %>\nvm.swappiness = <%= @swappiness %>\n")
    for path, want in ((j2, {(3, "feature-off")}), (erb, set())):
        r = run_tunekit("lint", "--json", "--fail-on", "none", str(path))
        assert {(f["line"], f["rule"]) for f in json.loads(r.stdout)["findings"]} == want


def test_pam_limits_applies_limits_conf_to_a_runuser_session(tmp_path):
    """Why an image whose command is su/runuser/login/sshd is not claimed: measured with
    limits.conf bound over the host's in a throw-away mount namespace."""
    require_privileges()
    conf = tmp_path / "limits.conf"
    conf.write_text("nobody soft nofile 4321\nnobody hard nofile 4321\n")
    script = (
        f"mount --bind {conf} /etc/security/limits.conf && "
        "runuser -u nobody -- sh -c 'ulimit -Sn; ulimit -Hn'"
    )
    r = subprocess.run(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
    )
    assert r.stdout.split() == ["4321", "4321"], (r.stdout, r.stderr)


def test_a_script_linted_with_the_dockerfile_that_runs_it_is_the_images():
    dockerfile = (
        "FROM oraclelinux:7\nCOPY kernel.sh /tmp/\nRUN bash /tmp/kernel.sh && rm /tmp/kernel.sh\n"
    )
    script = "#!/bin/sh\necho 'fs.file-max = 6815744' >> /etc/sysctl.conf\n"
    script += "echo 'oracle soft nofile 1024' >> /etc/security/limits.conf\n"
    report = lint.lint(
        [("Dockerfile", dockerfile, "dockerfile"), ("kernel.sh", script, "script")],
        reference_host(),
    )
    got = {(f.file, f.rule) for f in report.findings}
    assert {("kernel.sh", "image-sysctl"), ("kernel.sh", "image-limits")} <= got, got
    # alone, the script is a host's
    alone = lint.lint([("kernel.sh", script, "script")], reference_host())
    assert not [f for f in alone.findings if f.rule.startswith("image-")]


def test_a_unit_template_is_a_unit(tmp_path):
    tpl = tmp_path / "app.service.tpl"
    tpl.write_text("[Service]\nLimitNOFILE=1000000\nLimitCORE={{.LimitCORE}}\nLimitNPROC=1\n")
    r = run_tunekit("lint", "--json", "--fail-on", "none", str(tpl))
    doc = json.loads(r.stdout)
    assert doc["files"][0]["format"] == "system.conf", doc["files"]
    assert {f["rule"] for f in doc["findings"]} == {"limit-lowered"}  # LimitNPROC=1 alone


def test_a_roles_list_of_key_and_value_pairs_whatever_the_key_field_is_called():
    text = "sysctl_params:\n  - { option: kernel.exec-shield, value: 1 }\n"
    text += "  - { param: net.ipv4.tcp_sack, value: 0 }\n  - { port: 80, value: 1 }\n"
    parsed = confparse.parse(text, "defaults/main.yml", "yaml")
    assert [(s.line, s.key) for s in parsed.settings] == [
        (2, "kernel.exec-shield"),
        (3, "net.ipv4.tcp_sack"),
    ]


def test_yaml_data_that_only_checks_or_labels_sysctls_sets_nothing():
    goss = "kernel-param:\n  net.ipv4.tcp_syncookies:\n    value: '0'\n"
    labels = "metrics:\n  - { metric: net.ipv4.tcp_keepalive_probes, value: 0 }\n"
    labels += "  - { description: vm.swappiness, value: 100 }\n"
    lookup = "sysctl::values:\n  vm.swappiness:\n    value: '%{lookup(\"swap\")}'\n"
    for text in (goss, labels, lookup):
        assert confparse.parse(text, "x.yaml", "yaml").settings == [], text


def test_template_blocks_render_to_nothing_and_expressions_to_what_is_unknown(tmp_path):
    j2 = tmp_path / "sysctl.conf.j2"
    j2.write_text(
        "{% if big %}\nnet.core.somaxconn = 65535\n{% else %}\nnet.core.somaxconn = 8192\n"
        "{% endif %}\n{#\nnet.ipv4.tcp_tw_recycle = 1\n#}\n"
    )
    sh = tmp_path / "tune.sh.j2"
    sh.write_text(
        '#!/bin/sh\necho "vm.swappiness = {{ sw }}\nnet.ipv4.tcp_sack = 0" >> /etc/sysctl.conf\n'
        "sysctl -w net.ipv4.tcp_timestamps=0\n"
    )
    for path, want in ((j2, set()), (sh, {(4, "feature-off")})):
        r = run_tunekit("lint", "--json", "--fail-on", "none", str(path))
        got = {(f["line"], f["rule"]) for f in json.loads(r.stdout)["findings"]}
        assert got == want, (path.name, got)  # no branch overrides another; no line lost


def test_a_compose_services_command_runs_in_its_container():
    text = "services:\n  redis:\n    image: redis\n"
    text += '    command: sh -c "sysctl -w net.core.somaxconn=4096 && redis-server"\n'
    text += "  es:\n    image: es\n    privileged: true\n"
    text += '    entrypoint: ["sysctl", "-w", "net.ipv4.tcp_sack=0"]\n'
    got = {(f.line, f.rule) for f in run(text, "yaml").findings}
    assert (4, "container-proc-read-only") in got, got  # unprivileged: read-only /proc/sys
    assert (8, "feature-off") in got and (8, "container-proc-read-only") not in got, got


def test_a_run_continued_by_a_backslash_and_spaces_and_past_a_comment():
    """buildkit's line continuation is `\\[ \\t]*$`, and it drops comment lines inside an
    instruction (frontend/dockerfile/parser/parser.go)."""
    text = "FROM alpine\nRUN apk update \\ \n    # a comment\n"
    text += '    && echo "vm.overcommit_memory=1" >> /etc/sysctl.conf\\\n'
    text += "    && echo net.ipv4.tcp_sack=0 >> /etc/sysctl.conf\n"
    got = {(f.key, f.rule) for f in run(text, "dockerfile").findings}
    assert {("vm.overcommit_memory", "image-sysctl"), ("net.ipv4.tcp_sack", "image-sysctl")} <= got


def test_an_unclosed_template_opener_leaves_the_rest_as_it_is():
    from tunekit.lint.inputs import unrendered

    # one pass: an opener never closed ends the scan (200,000 of them took a minute when
    # each was searched to the end of the file)
    text = "net.ipv4.tcp_sack = 0\n" + "{#" * 1000 + "\nvm.swappiness = 10\n"
    assert unrendered(text, shell=False) == text
    assert unrendered("a {# x\ny #} b\nk = {{ v }}\n", shell=False) == "a \n b\n\n"


MARKDOWN = """\
# Tuning guide

Put this in /etc/sysctl.conf (net.ipv4.tcp_sack = 0 in prose is not applied):

```
net.ipv4.tcp_timestamps = 0
```

file: /etc/security/limits.conf

~~~
root hard nofile 204800
~~~

```bash
sysctl -w net.ipv4.tcp_dsack=0
```
"""


def test_a_markdown_guide_is_read_block_by_block(tmp_path):
    """Each fenced block as the format it holds, at the guide's own line numbers; the
    prose is nobody's input."""
    parsed = confparse.parse(MARKDOWN, "README.md", "markdown")
    got = [(s.line, s.kind, s.key) for s in parsed.settings]
    assert got == [
        (6, "sysctl", "net.ipv4.tcp_timestamps"),
        (12, "limits", "nofile"),
        (16, "sysctl", "net.ipv4.tcp_dsack"),
    ], got
    path = tmp_path / "README.md"
    path.write_text(MARKDOWN)
    r = run_tunekit("lint", "--json", "--fail-on", "none", str(path))
    found = {(f["line"], f["rule"]) for f in json.loads(r.stdout)["findings"]}
    assert (6, "feature-off") in found and not [f for f in found if f[0] == 12], found


TERRAFORM = """\
variable "sysctls" {
  default = [
    "net.ipv4.tcp_sack=0",
    "net.ipv4.tcp_rmem='4096 87380 6291456'",
    "net.core.somaxconn=${var.backlog}",
  ]
}
kubelet_sysctls = {
  "net.ipv4.tcp_timestamps" = "0"
}
resource "aws_instance" "node" {
  count     = 3
  user_data = <<-EOF
    #!/bin/bash
    sysctl -w net.ipv4.tcp_dsack=0
  EOF
}
"""


def test_terraform_strings_maps_and_heredocs_are_read():
    parsed = confparse.parse(TERRAFORM, "main.tf", "hcl")
    got = [(s.line, s.key, s.value) for s in parsed.settings]
    assert got == [
        (3, "net.ipv4.tcp_sack", "0"),
        (4, "net.ipv4.tcp_rmem", "4096 87380 6291456"),  # unquoted as sysctl -w gets it
        (9, "net.ipv4.tcp_timestamps", "0"),
        (15, "net.ipv4.tcp_dsack", "0"),  # the heredoc's script, at its own line
    ], got  # an interpolated value is the plan's to know; `count = 3` is no sysctl
    assert not parsed.problems


def test_a_roles_lineinfile_items_are_the_lines_of_the_file_its_name_says():
    text = (
        "tuning_sysctl_vars:\n"
        "  - { regexp: '^net.ipv4.tcp_sack', line: 'net.ipv4.tcp_sack = 0' }\n"
        "  - { regexp: '^x', line: 'net.ipv4.tcp_dsack = 0', state: absent }\n"
        "tuning_limits_vars:\n"
        "  - { regexp: '^root hard nofile', line: 'root hard nofile 4096' }\n"
        "motd_vars:\n"
        "  - { regexp: '^x', line: 'net.ipv4.tcp_fack = 0' }\n"
    )
    parsed = confparse.parse(text, "defaults/main.yml", "yaml")
    assert [(s.line, s.kind, s.key, s.value) for s in parsed.settings] == [
        (2, "sysctl", "net.ipv4.tcp_sack", "0"),
        (5, "limits", "nofile", "4096"),
    ]  # an absent line is removed; a variable whose name says no tuning file is not read


def test_a_puppet_double_quoted_value_holds_its_escapes():
    text = "sysctl { 'net.ipv4.tcp_rmem':\n  value => \"4096\\t87380\\t16777216\"\n}\n"
    parsed = confparse.parse(text, "init.pp", "puppet")
    assert [(s.line, s.value) for s in parsed.settings] == [(2, "4096 87380 16777216")]
    assert not [f for f in run(text, "puppet").findings if f.verdict == "syntax"]


def test_a_key_given_twice_in_a_list_command_is_reported_on_each_item():
    text = (
        "spec:\n  initContainers:\n  - name: a\n    image: busybox\n"
        "    securityContext:\n      privileged: true\n    command:\n    - sysctl\n    - -w\n"
        "    - net.core.somaxconn=1024\n    - net.core.somaxconn=4096\n"
    )
    parsed = confparse.parse(text, "pod.yaml", "yaml")
    assert [(s.line, s.value) for s in parsed.settings] == [(10, "1024"), (11, "4096")]
