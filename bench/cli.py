"""The command line of a benchmark whose options are all numbers with defaults."""

from __future__ import annotations

import argparse


def numeric_options(doc: str | None, **defaults: float) -> argparse.Namespace:
    """Parse `--name N` for each default (`--some-name` for `some_name`), typed as its default is."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    for name, default in defaults.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    return parser.parse_args()
