"""Commands this part adds to `booking` (registered through the booking_core.commands entry point)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Nothing yet: this part arrives in a later issue."""
