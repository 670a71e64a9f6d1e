"""The README's library example runs as written, against a fresh database."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import create_database, drop_database

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_example_runs_as_written(admin_url, monkeypatch, capsys):
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert blocks, "the README shows the public API with an example"
    url = create_database(admin_url)
    monkeypatch.setenv("BOOKING_DATABASE_URL", url)
    try:
        namespace: dict[str, object] = {}
        exec(compile(blocks[0], str(README), "exec"), namespace)
        namespace["system"].close()  # type: ignore[attr-defined]
    finally:
        drop_database(admin_url, url)
    out = capsys.readouterr().out
    assert "no longer in the schedule (legacy)" in out
    assert "booking.cancelled customer api plans changed" in out


_ = pytest
