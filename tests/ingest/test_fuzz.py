"""Arbitrary bytes never crash the export reader and parser: a file is either refused as a whole with
an `ExportFileError` that names it, or split into rows and rejected lines that account for every
data line; and every line of a valid file still loads when broken lines are mixed in."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marketflow.ingest import IngestError, IngestSettings, ingest_orders_day
from marketflow.ingest.errors import ExportFileError
from marketflow.ingest.parsing import parse_orders
from marketflow.ingest.sources import mapped, shopify
from marketflow.ingest.sources.online_retail import read_orders
from tests.conftest import REPO

VALID = (Path(__file__).with_name("corpus") / "valid_day.csv").read_bytes()
HEADER, *LINES = VALID.rstrip(b"\n").split(b"\n")
URL = "landing/2011-03-01.csv"
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _read_and_parse(content: bytes) -> None:
    try:
        export = read_orders(content, URL, "GBP")
    except ExportFileError as error:
        assert str(error).startswith(f"{URL}: ") and error.problem
        return
    frame = parse_orders(export)
    assert len(frame) == len(export.line_numbers) == len(export.raw_lines)
    # One record per physical line: every non-blank line after the header is a row or a rejected line.
    lines = re.split(r"\r\n|\r|\n", content.decode("utf-8-sig"))
    data_lines = [n for n, line in enumerate(lines, start=1) if n > 1 and line.strip()]
    assert sorted(export.line_numbers + [line.line_no for line in export.rejected]) == data_lines
    assert all("\x00" not in line.raw for line in export.rejected)


@FUZZ
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_are_refused_with_a_message_or_read_line_by_line(content: bytes) -> None:
    _read_and_parse(content)


@FUZZ
@given(st.binary(max_size=200))
def test_arbitrary_bytes_after_a_valid_header_are_refused_or_read_line_by_line(body: bytes) -> None:
    _read_and_parse(HEADER + b"\n" + body)


@FUZZ
@given(st.lists(st.text(max_size=80), max_size=6), st.data())
def test_every_good_line_loads_whatever_broken_lines_are_mixed_in(junk: list[str], data: st.DataObject) -> None:
    lines = list(LINES)
    for text in junk:
        lines.insert(data.draw(st.integers(0, len(lines))), text.replace("\n", " ").replace("\r", " "))
    content = b"\n".join([HEADER, *(line if isinstance(line, bytes) else line.encode() for line in lines)]) + b"\n"
    export = read_orders(content, URL, "GBP")
    frame = parse_orders(export)
    good = {line.decode() for line in LINES}
    loaded = set(export.raw_lines)
    assert good <= loaded, good - loaded
    assert len(frame) == len(export.raw_lines)
    assert export.rows_read == sum(1 for line in lines if (line.decode() if isinstance(line, bytes) else line).strip())


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=300))
def test_ingest_of_a_broken_file_loads_or_fails_with_an_ingest_error_and_a_failed_day(tmp_path: Path, body: bytes) -> None:
    from sqlalchemy import select

    from marketflow.warehouse import schema, upgrade_to_head, warehouse_engine

    day = dt.date(2011, 3, 1)
    engine = warehouse_engine(f"sqlite:///{tmp_path / 'warehouse.db'}")
    upgrade_to_head(engine)
    (tmp_path / f"{day}.csv").write_bytes(HEADER + b"\n" + body)
    try:
        report = ingest_orders_day(engine, str(tmp_path), day, IngestSettings.from_env(landing_url=str(tmp_path)))
    except IngestError as error:
        assert str(tmp_path / f"{day}.csv") in str(error)
        with engine.connect() as conn:
            status = conn.execute(select(schema.ingest_days.c.status).where(schema.ingest_days.c.file_date == day)).scalar_one()
        assert status == "failed"
    else:
        assert report.rows_loaded + report.rows_quarantined == report.rows_read


SHOPIFY_EXPORT = (Path(__file__).with_name("corpus") / "shopify" / "orders-2011-10-03.csv").read_bytes()
SHOPIFY_HEADER = SHOPIFY_EXPORT.split(b"\n", 1)[0]
WOOCOMMERCE = mapped.load_mapping(str(REPO / "include" / "sources" / "woocommerce.yaml"))
WOO_HEADER = (Path(__file__).with_name("corpus") / "mapped" / "woocommerce-2011-10-03.csv").read_bytes().split(b"\n", 1)[0]
ADAPTERS = {
    "shopify": (SHOPIFY_HEADER, shopify.read_orders),
    "mapped": (WOO_HEADER, lambda content, url: mapped.read_orders(content, url, WOOCOMMERCE, "GBP")),
}


@FUZZ
@given(st.sampled_from(sorted(ADAPTERS)), st.binary(max_size=400))
def test_the_adapters_refuse_or_adapt_arbitrary_bytes_accounting_for_every_record(name: str, body: bytes) -> None:
    header, read = ADAPTERS[name]
    try:
        export = read(header + b"\n" + body, URL)
    except ExportFileError as error:
        assert str(error).startswith(f"{URL}: ") and error.problem
        return
    frame = parse_orders(export, "GBP", {})
    assert len(frame) == len(export.line_numbers) == len(export.raw_lines)
    records = {abs(line) for line in export.line_numbers}
    assert records.isdisjoint(line.line_no for line in export.rejected)
    assert all(line > 0 or -line in records for line in export.line_numbers)  # an added row has its record


@FUZZ
@given(st.lists(st.text(max_size=80), max_size=6), st.data())
def test_every_good_shopify_record_is_adapted_whatever_broken_lines_are_mixed_in(junk: list[str], data: st.DataObject) -> None:
    clean = shopify.read_orders(SHOPIFY_EXPORT, URL)
    good = set(clean.raw_lines)
    records = SHOPIFY_EXPORT.decode().rstrip("\n").split("\n#")  # the fixture's records start with an order name
    lines = [records[0], *("#" + record for record in records[1:])]
    for text in junk:
        lines.insert(data.draw(st.integers(1, len(lines))), text.replace("\n", " ").replace("\r", " "))
    export = shopify.read_orders(("\n".join(lines) + "\n").encode(), URL)
    assert good <= set(export.raw_lines), good - set(export.raw_lines)
