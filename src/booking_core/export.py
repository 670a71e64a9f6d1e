"""Streamed booking-history export (CSV, Parquet, Excel) in bounded memory: chunk in, chunk out.

Rows come from a server-side cursor in chunks (reports.history.export_rows); each chunk is
written and dropped before the next is fetched, so memory holds one chunk whatever the history size.
"""

from __future__ import annotations

import csv
import gc
import io
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from queue import Empty, Queue
from typing import Any, BinaryIO, Literal

import pyarrow as pa  # type: ignore[import-untyped]
import pyarrow.parquet as pq  # type: ignore[import-untyped]

from booking_core.domain.errors import InvalidInput
from booking_core.reports.history import EXPORT_COLUMNS

Format = Literal["csv", "parquet", "xlsx"]
FORMATS: tuple[Format, ...] = ("csv", "parquet", "xlsx")
MIME = {
    "csv": "text/csv",
    "parquet": "application/vnd.apache.parquet",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
XLSX_MAX_ROWS = 1_048_575  # a sheet's 1,048,576 rows, less the header
Chunks = Iterable[Sequence[Sequence[Any]]]
Progress = Callable[[int], None]

_TS = pa.timestamp("us")
_TYPES: dict[str, pa.DataType] = {
    "party_size": pa.int32(),
    "slot_date": pa.date32(),
    "slot_time": pa.time64("us"),
    "slot_starts_local": _TS,
    "legacy_slot": pa.bool_(),
    "amount": pa.decimal128(12, 2),
    "paid_amount": pa.decimal128(12, 2),
    "refunded_amount": pa.decimal128(12, 2),
    "cancellation_fee": pa.decimal128(12, 2),
    "refund_due": pa.decimal128(12, 2),
    "created_local": _TS,
    "updated_local": _TS,
    "cancelled_local": _TS,
}
SCHEMA = pa.schema([(c, _TYPES.get(c, pa.string())) for c in EXPORT_COLUMNS])


SUFFIXES: dict[str, Format] = {".csv": "csv", ".parquet": "parquet", ".xlsx": "xlsx"}


def check_format(fmt: str, rows: int) -> Format:
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    if fmt == "xlsx" and rows > XLSX_MAX_ROWS:
        raise InvalidInput(f"{rows:,} bookings do not fit one Excel sheet: export csv or parquet, or filter")
    return fmt


def target_format(out: Path, fmt: str | None) -> Format:
    """The format for writing `out`: `fmt`, or the one its extension names; a mismatch is refused.

    `--format csv --out x.parquet` would write a file whose name lies about its content, so it is
    an error; an extension that names no format (or none) is fine when `fmt` is given.
    """
    named = SUFFIXES.get(out.suffix.lower())
    if fmt is None:
        if named is None:
            raise InvalidInput(
                f"cannot tell the format of {out.name!r}: name it .csv, .parquet or .xlsx, or pass --format"
            )
        return named
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    if named is not None and named != fmt:
        raise InvalidInput(f"--format {fmt} does not match --out {out.name}: drop --format or name the file .{fmt}")
    return fmt


def check_writable(out: Path) -> None:
    """Refuse, before any row is read, a path the export could not write (one line, what to do)."""
    folder = out.parent
    if out.is_dir():
        raise InvalidInput(f"--out {out} is a folder: name a file in it")
    if not folder.is_dir():
        why = "is not a folder" if folder.exists() else "does not exist"
        raise InvalidInput(f"cannot write {out}: {folder} {why}: create it or choose another --out")
    probe = folder / f".{out.name}.partial"
    try:
        probe.open("wb").close()
    except OSError as exc:
        raise InvalidInput(f"cannot write {out}: {exc.strerror or exc}: choose another --out") from None
    probe.unlink(missing_ok=True)


def write(chunks: Chunks, fmt: Format, out: BinaryIO, *, on_rows: Progress | None = None) -> int:
    """Write every chunk to `out` in the format; returns the rows written."""
    writer = {"csv": _csv, "parquet": _parquet, "xlsx": _xlsx}[fmt]
    with _no_cyclic_gc():
        return writer(_prefetched(chunks), out, on_rows or (lambda _n: None))


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    # Millions of row tuples make the cycle collector run over and over (it was a third of the
    # export's time); rows hold no cycles, so reference counting frees every chunk anyway.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _prefetched(chunks: Chunks) -> Iterator[Sequence[Sequence[Any]]]:
    """Fetch the next chunk on a thread while this one is written (psycopg waits without the GIL).

    At most one chunk waits in the queue, so memory holds three chunks at worst.
    """
    queue: Queue[Sequence[Sequence[Any]] | BaseException | None] = Queue(maxsize=1)
    stop = threading.Event()

    def fetch() -> None:
        try:
            for chunk in chunks:
                if stop.is_set():
                    return
                queue.put(chunk)
        except BaseException as exc:  # handed to the writer's thread, which raises it
            queue.put(exc)
        else:
            queue.put(None)

    thread = threading.Thread(target=fetch, name="export-fetch", daemon=True)
    thread.start()
    try:
        while (item := queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        # If the writer stopped early, unblock the fetcher so it ends (and frees the cursor) too.
        stop.set()
        while thread.is_alive():
            with suppress(Empty):
                queue.get(timeout=0.1)
        thread.join()


def write_file(chunks: Chunks, fmt: Format, path: Path, *, on_rows: Progress | None = None) -> int:
    """Write to a temporary sibling, then rename: a failed export never leaves a half-written file."""
    tmp = path.with_name(f".{path.name}.partial")
    try:
        with tmp.open("wb") as out:
            n = write(chunks, fmt, out, on_rows=on_rows)
        tmp.replace(path)
    except OSError as exc:  # a full disk, a folder removed meanwhile: the user's to fix, not a traceback
        raise InvalidInput(f"cannot write {path}: {exc.strerror or exc}: free space or choose another --out") from None
    finally:
        tmp.unlink(missing_ok=True)
    return n


def to_bytes(chunks: Chunks, fmt: Format) -> bytes:
    buf = io.BytesIO()
    write(chunks, fmt, buf)
    return buf.getvalue()


def _csv(chunks: Chunks, out: BinaryIO, on_rows: Progress) -> int:
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    w = csv.writer(text)
    w.writerow(EXPORT_COLUMNS)
    n = 0
    for chunk in chunks:
        w.writerows(chunk)
        n += len(chunk)
        on_rows(len(chunk))
    text.flush()
    text.detach()  # leave `out` open for the caller
    return n


def _parquet(chunks: Chunks, out: BinaryIO, on_rows: Progress) -> int:
    n = 0
    with pq.ParquetWriter(out, SCHEMA, compression="zstd") as writer:
        for chunk in chunks:
            columns: list[Sequence[Any]] = list(zip(*chunk, strict=True)) if chunk else [() for _ in SCHEMA]
            arrays = [pa.array(col, type=field.type) for col, field in zip(columns, SCHEMA, strict=True)]
            writer.write_table(pa.Table.from_arrays(arrays, schema=SCHEMA))
            n += len(chunk)
            on_rows(len(chunk))
    return n


def _xlsx(chunks: Chunks, out: BinaryIO, on_rows: Progress) -> int:
    from openpyxl import Workbook  # type: ignore[import-untyped]

    wb = Workbook(write_only=True)  # rows stream to a temporary file, not into memory
    ws = wb.create_sheet("bookings")
    ws.append(list(EXPORT_COLUMNS))
    n = 0
    for chunk in chunks:
        for row in chunk:
            ws.append(tuple(row))
        n += len(chunk)
        on_rows(len(chunk))
    wb.save(out)
    return n
