"""Writing: one writer per kind of setting (writers/), the journal, the lock, the executor
that applies a plan and undoes it, and the local calibration."""
