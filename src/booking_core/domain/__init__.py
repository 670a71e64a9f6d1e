"""The pure booking rules: standard library only, no I/O."""
