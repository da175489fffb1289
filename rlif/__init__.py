"""The `rlif` command: one entry point with a subcommand per process or task."""
