"""The database holds what the area files define, and its triggers fire in the documented order."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg

from tests.schema.areas import definitions

INVARIANTS = Path(__file__).resolve().parents[2] / "docs" / "invariants.md"
REFUSALS = re.compile(r"_(append_only|never_delete|no_truncate)$")
# pg_trigger.tgtype bits.
_ROW, _BEFORE, _INSTEAD = 1, 2, 64
_EVENTS = {4: "INSERT", 8: "DELETE", 16: "UPDATE", 32: "TRUNCATE"}

Group = tuple[str, str, str, str]  # table, timing, level, event


def _firing_order(raw: psycopg.Connection) -> dict[Group, list[str]]:
    """Each table, timing, level and event with its triggers in the order PostgreSQL fires them (by name)."""
    groups: dict[Group, list[str]] = {}
    rows = raw.execute(
        "SELECT c.relname, t.tgname, t.tgtype FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
        ' WHERE NOT t.tgisinternal ORDER BY c.relname, t.tgname COLLATE "C"'
    ).fetchall()
    for table, name, tgtype in rows:
        timing = "BEFORE" if tgtype & _BEFORE else "INSTEAD OF" if tgtype & _INSTEAD else "AFTER"
        level = "ROW" if tgtype & _ROW else "STATEMENT"
        for bit, event in _EVENTS.items():
            if tgtype & bit:
                groups.setdefault((table, timing, level, event), []).append(name)
    return groups


def _documented_order() -> dict[tuple[str, str, str], list[str]]:
    """The "Trigger order" table of docs/invariants.md: (table, timing, event) -> triggers in firing order."""
    section = INVARIANTS.read_text(encoding="utf-8").split("## Trigger order", 1)[1].split("\n## ", 1)[0]
    documented = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 5 or not cells[3].startswith("`"):
            continue
        table, timing, events, triggers, _why = cells
        for event in events.split(", "):
            documented[(table, timing, event)] = re.findall(r"`(\w+)`", triggers)
    assert documented, f"no trigger order table found in {INVARIANTS}"
    return documented


def test_triggers_fire_in_the_order_docs_invariants_states(raw):
    firing = _firing_order(raw)
    shared = {(t, timing, e): names for (t, timing, _, e), names in firing.items() if len(names) > 1}
    assert shared == _documented_order()


def test_every_trigger_is_numbered_by_its_place_or_a_refusal_alone_in_its_event(raw):
    for (table, _, _, _), names in _firing_order(raw).items():
        for name in names:
            if REFUSALS.search(name):
                assert names == [name], f"{name} shares its event with {names}: refusals stand alone"
            else:
                assert re.fullmatch(rf"{table}_\d\d_[a-z_]+", name), f"{name}: name it {table}_<NN>_<what>"


def _defined(kind: str) -> set[str]:
    return {name for found, name in definitions() if found == kind}


def test_every_function_trigger_and_view_in_the_database_is_defined_in_an_area_file(raw):
    # Public names bare, the member views' schema (migration 0013) qualified, as the area files write them.
    functions = raw.execute(
        "SELECT CASE WHEN n.nspname = 'public' THEN p.proname::text ELSE n.nspname || '.' || p.proname END"
        " FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname IN ('public', 'booking_members')"
    ).fetchall()
    triggers = raw.execute("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal").fetchall()
    views = raw.execute(
        "SELECT CASE WHEN schemaname = 'public' THEN viewname::text ELSE schemaname || '.' || viewname END"
        " FROM pg_views WHERE schemaname IN ('public', 'booking_members')"
    ).fetchall()
    assert {f for (f,) in functions} == _defined("FUNCTION")
    assert {t for (t,) in triggers} == _defined("TRIGGER")
    assert {v for (v,) in views} == _defined("VIEW")
