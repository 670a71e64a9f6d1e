"""What the area files (booking_core/sql/<area>.sql) define, read from their text."""

from __future__ import annotations

import re

from booking_core.sql import AREAS, area_sql

# A name may be schema-qualified (the member views of booking_members, migration 0013).
DEFINITION = re.compile(
    r"^\s*CREATE\s+(OR\s+REPLACE\s+)?(FUNCTION|TRIGGER|VIEW)\s+([\w.]+)", re.MULTILINE | re.IGNORECASE
)
# append_only.sql's table of refusals: ('table', '{refusal,...}'), one trigger <table>_<refusal> each.
REFUSALS = re.compile(r"^\s*\('(\w+)',\s*'\{([\w,]+)\}'\)", re.MULTILINE)
# audit.sql's table of audited tables: ('table', 'trigger', 'EVENTS', 'entity'), one trigger each.
AUDITED = re.compile(r"^\s*\('\w+',\s*'(\w+)',\s*'[A-Z ]+',\s*'\w+'\)", re.MULTILINE)
# Every other area's triggers: one define_trigger('name', 'table', ...) call each, at the end of its file.
DECLARED = re.compile(r"\bdefine_trigger\(\s*'(\w+)'", re.MULTILINE | re.IGNORECASE)
# freeze.sql's table of frozen writes: ('table', 'INSERT[ OR UPDATE]', condition), one trigger <table>_00_frozen each.
FROZEN = re.compile(r"^\s*\('(\w+)',\s*'INSERT( OR UPDATE)?',", re.MULTILINE)


def area_texts() -> dict[str, str]:
    return {area: area_sql(area) for area in AREAS}


def definitions() -> list[tuple[str, str]]:
    """(kind, name) of every definition in the area files, once per time it is defined."""
    found = []
    for text in area_texts().values():
        found += [(kind.upper(), name) for _, kind, name in DEFINITION.findall(text)]
        for table, refusals in REFUSALS.findall(text):
            found += [("TRIGGER", f"{table}_{refusal}") for refusal in refusals.split(",")]
        found += [("TRIGGER", name) for name in AUDITED.findall(text)]
        found += [("TRIGGER", name) for name in DECLARED.findall(text)]
        found += [("TRIGGER", f"{table}_00_frozen") for table, _ in FROZEN.findall(text)]
    return found
