"""`booking export`, run as a real command on a known history: every format holds exactly the SQL's rows."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pyarrow.parquet as pq
import pytest
import sqlalchemy

from booking_core.reports.common import booking_ref
from booking_core.reports.engine import readonly_engine
from tests.dashboard.conftest import FROM, TO, History

BOOKING = [sys.executable, "-c", "from booking_core.cli import main; main()"]


def booking(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"BOOKING_DATABASE_URL": url}
    return subprocess.run([*BOOKING, *args], env=env, capture_output=True, text=True, timeout=120)


def test_parquet_export_holds_every_booking_with_its_cancellation(history: History, tmp_path: Path) -> None:
    out = tmp_path / "all.parquet"
    done = booking(history.url, "export", "--format", "parquet", "--out", str(out))
    assert done.returncode == 0, done.stderr
    table = pq.read_table(out).to_pandas()
    expected = dict(history.sql("SELECT id::text, status::text FROM bookings"))
    assert dict(zip(table["booking_id"], table["status"], strict=True)) == expected
    sick = table.loc[table["booking_id"] == str(history.bookings["cancel_sick"])].iloc[0]
    assert (sick["cancel_reason"], sick["cancelled_by"]) == ("sick", "customer")
    assert sick["booking_ref"] == booking_ref(history.bookings["cancel_sick"])  # the reference the pages show
    assert set(table["timezone"]) == {"Europe/Berlin"}
    money = {
        r[0]: tuple(r[1:])
        for r in history.sql(
            "SELECT id::text, paid_amount, refunded_amount, cancellation_fee, refund_due FROM bookings"
        )
    }
    columns = ["paid_amount", "refunded_amount", "cancellation_fee", "refund_due"]
    exported = {
        r[0]: tuple(None if v != v else v for v in r[1:])  # NaN (no fee) reads as None
        for r in table[["booking_id", *columns]].itertuples(index=False)
    }
    assert exported == money
    assert table["legacy_slot"].sum() == history.scalar(
        "SELECT count(*) FROM bookings b JOIN time_slots s ON s.id = b.slot_id WHERE s.is_legacy"
    )


def test_csv_export_keeps_only_the_business_and_dates_asked_for(history: History, tmp_path: Path) -> None:
    out = tmp_path / "some.csv"
    name = str(history.scalar("SELECT name FROM businesses WHERE id = %(b)s", b=history.business))
    done = booking(
        history.url,
        "export",
        "--format",
        "csv",
        "--out",
        str(out),
        "--business",
        name,
        "--from",
        FROM.isoformat(),
        "--to",
        TO.isoformat(),
    )
    assert done.returncode == 0, done.stderr
    rows = history.scalar(
        "SELECT count(*) FROM bookings b JOIN time_slots s ON s.id = b.slot_id"
        " WHERE b.business_id = %(b)s AND s.local_date BETWEEN %(f)s AND %(t)s",
        b=history.business,
        f=FROM,
        t=TO,
    )
    lines = out.read_text().splitlines()
    assert lines[0].startswith("business,timezone,booking_id,status")
    assert len(lines) == int(rows) + 1  # type: ignore[call-overload]
    assert f"wrote {rows} bookings" in done.stdout


def test_excel_export_is_one_sheet_with_a_header_row(history: History, tmp_path: Path) -> None:
    out = tmp_path / "all.xlsx"
    done = booking(history.url, "export", "--format", "xlsx", "--out", str(out))
    assert done.returncode == 0, done.stderr
    book = openpyxl.load_workbook(out, read_only=True)
    rows = list(book["bookings"].values)
    book.close()
    assert rows[0][:3] == ("business", "timezone", "booking_id")
    assert len(rows) == int(history.scalar("SELECT count(*) FROM bookings")) + 1  # type: ignore[call-overload]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "xml"], "unknown format 'xml'"),
        (["--format", "csv", "--business", "No Such Shop"], "no business is named 'No Such Shop'"),
        (["--format", "csv", "--from", "2030-02-30"], "--from '2030-02-30' is not a date"),
        (["--format", "csv", "--from", "2030-02-10", "--to", "2030-02-01"], "--to is before --from"),
    ],
)
def test_bad_export_requests_get_one_line_and_no_file(
    history: History, tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "never"
    done = booking(history.url, "export", "--out", str(out), *args)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [f"error: {done.stderr.strip()[7:]}"]
    assert message in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_unreachable_database_is_exit_code_3(tmp_path: Path) -> None:
    done = booking("postgresql://nobody@127.0.0.1:9/none", "export", "--format", "csv", "--out", str(tmp_path / "x"))
    assert done.returncode == 3
    assert "cannot reach the database" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_readers_connection_cannot_change_a_booking(history: History) -> None:
    engine = readonly_engine(history.url)
    try:
        with engine.connect() as conn, pytest.raises(sqlalchemy.exc.DBAPIError, match="read-only"):
            conn.execute(sqlalchemy.text("UPDATE bookings SET party_size = 1"))
        # Even with read-only switched off, the role has no right to write.
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.execute(sqlalchemy.text("SET default_transaction_read_only = off"))
            with pytest.raises(sqlalchemy.exc.DBAPIError, match="permission denied"):
                conn.execute(sqlalchemy.text("UPDATE bookings SET party_size = 1"))
    finally:
        engine.dispose()


def test_a_failed_export_leaves_no_file_and_no_fetching_thread(tmp_path: Path) -> None:
    import threading

    from booking_core import export

    def chunks() -> Iterator[list[tuple[object, ...]]]:
        yield [("x",) * len(export.SCHEMA)]
        raise RuntimeError("connection lost")

    out = tmp_path / "broken.csv"
    with pytest.raises(RuntimeError, match="connection lost"):
        export.write_file(chunks(), "csv", out)
    assert list(tmp_path.iterdir()) == []
    assert [t for t in threading.enumerate() if t.name == "export-fetch"] == []
