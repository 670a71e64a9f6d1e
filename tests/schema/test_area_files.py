"""Each function, trigger and view is defined once, in its area file; migrations define none."""

from __future__ import annotations

import re
from collections import Counter

from booking_core.adapters.db import MIGRATIONS
from booking_core.sql import AREAS, SQL_DIR
from tests.schema.areas import DEFINITION, area_texts, definitions

# ALTER TABLE ... ENABLE ALWAYS TRIGGER is part of a trigger's definition (it fires under replication too).
SCHEMA_CHANGE = re.compile(
    r"^\s*((CREATE|DROP)\s+(TABLE|TYPE|(UNIQUE\s+)?INDEX)\b|ALTER\s+(TABLE|TYPE)\s+\w+\s+(?!ENABLE\b))",
    re.MULTILINE | re.IGNORECASE,
)


def test_the_area_files_are_the_areas_applied_in_order():
    assert sorted(p.stem for p in SQL_DIR.glob("*.sql")) == sorted(AREAS)


def test_every_function_trigger_and_view_is_defined_once_across_the_area_files():
    names = Counter(definitions())
    assert names, "no definitions found in the area files"
    assert [f"{kind} {name}" for (kind, name), n in names.items() if n > 1] == []


def test_area_files_define_replaceably_and_change_no_table_or_type():
    for area, text in area_texts().items():
        fixed = [name for replace, _, name in DEFINITION.findall(text) if not replace]
        assert fixed == [], f"{area}.sql: write CREATE OR REPLACE for {fixed}"
        changes = [m.group(0).strip() for m in SCHEMA_CHANGE.finditer(text)]
        assert changes == [], f"{area}.sql changes the schema ({changes}): that is a migration's job"


def test_migrations_define_no_function_trigger_or_view():
    for path in sorted((MIGRATIONS / "versions").glob("*.*")):
        if path.suffix in (".sql", ".py"):
            found = [name for _, _, name in DEFINITION.findall(path.read_text(encoding="utf-8"))]
            assert found == [], f"{path.name} defines {found}: define them in booking_core/sql/<area>.sql"
