"""Reading a host or an image: files under a root (rootfs, procfs), the HostFacts, what
applies at the next boot (bootset), the tuning files as their tools read them
(confparse), whose open-files limit (processes)."""
