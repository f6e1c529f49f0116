"""tunekit: Linux kernel tuning for hosts that hold or open millions of TCP connections.

Layers (imports go one way): cli -> engine (profiles, registry, capacity, check)
and cli -> host I/O (host). The engine never touches the system.
"""

__version__ = "0.1.0"
