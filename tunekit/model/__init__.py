"""The pure engine: values, host facts, profiles, the capacity model, targets, the check
and the plan. Data in, data out; nothing here opens a file or calls the kernel."""
