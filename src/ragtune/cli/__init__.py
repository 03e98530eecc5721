"""The ``ragtune`` command line: one sub-app per noun, wired in ``ragtune.cli.main``."""
