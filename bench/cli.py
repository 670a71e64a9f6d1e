"""Benchmark command lines: all-number options with defaults, and the options of a benchmark on seeded data."""

from __future__ import annotations

import argparse


def numeric_options(doc: str | None, **defaults: float) -> argparse.Namespace:
    """Parse `--name N` for each default (`--some-name` for `some_name`), typed as its default is."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    for name, default in defaults.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    return parser.parse_args()


def seeded_parser(
    doc: str | None, *, bookings: int, existing: bool = True, **numbers: float
) -> argparse.ArgumentParser:
    """--bookings N (seeded into a database of the run's own), --keep it, with `existing` --database-url, and
    `--some-name N` for each of `numbers` (some_name=default), typed as its default is."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bookings", type=int, default=bookings, help="bookings to seed (default %(default)s)")
    if existing:
        parser.add_argument("--database-url", help="an already seeded database, used as it is")
    parser.add_argument("--keep", action="store_true", help="keep the database this run created")
    for name, default in numbers.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(default), default=default)
    return parser
