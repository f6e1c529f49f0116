"""What applies at the next boot: the sysctl search order, and files that win over ours."""

from tunekit.host.bootset import boot_order, later_assignments
from tunekit.persist.writers.sysctl_d import PATH as SYSCTL_FILE


def test_boot_order_follows_sysctl_d():
    files = {
        "usr/lib/sysctl.d/50-default.conf": "",
        "etc/sysctl.d/99-sysctl.conf": "",
        "run/sysctl.d/50-default.conf": "",
        "lib/sysctl.d/95-x.conf": "",
        "etc/sysctl.conf": "",
    }
    assert boot_order(files) == [
        "run/sysctl.d/50-default.conf",
        "lib/sysctl.d/95-x.conf",
        "etc/sysctl.d/99-sysctl.conf",
        "etc/sysctl.conf",
    ]


def test_boot_conflicts_only_after_our_file_and_only_different_values():
    files = {
        "usr/lib/sysctl.d/50-default.conf": "net.core.somaxconn = 1\n",  # before: ours wins
        "etc/sysctl.d/99-local.conf": "net.core.somaxconn=128\nfs.file-max = 7\n",
        "etc/sysctl.conf": "# net.core.somaxconn = 5\nnet.core.somaxconn = 4096\n",
    }
    out = later_assignments(files, {"net.core.somaxconn": "4096"}, SYSCTL_FILE)
    assert len(out) == 1 and "/etc/sysctl.d/99-local.conf sets net.core.somaxconn = 128" in out[0]
