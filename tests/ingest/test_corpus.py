"""Every broken (or merely unusual) input in `corpus/` gets its documented outcome (corpus/README.md).

Row-level cases load and quarantine exactly the broken lines, with the rule that caught them; no row
is lost (rows in the file = rows loaded + rows quarantined). File-level cases are refused with a
message naming the file and the problem, and leave the day's published data as it was.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from marketflow.ingest import (
    IngestError,
    IngestReport,
    IngestSettings,
    ingest_customers_day,
    ingest_orders_day,
)
from marketflow.ingest.csv_export import escape_nul
from marketflow.warehouse import schema

CORPUS = Path(__file__).with_name("corpus")
DAY = dt.date(2011, 3, 1)

#: file -> {line number: start of its quarantine reason}; every other line loads.
LOADS = {
    "valid_day.csv": {},
    "crlf_line_endings.csv": {},
    "utf8_bom.csv": {},
    "reordered_columns.csv": {},
    "messy_whitespace_and_ids.csv": {},
    "blank_lines.csv": {},
    "truncated_last_line.csv": {24: "unparseable: last line has no line ending"},
    "unclosed_quote.csv": {6: "unparseable: unclosed quote"},
    "wrong_field_count.csv": {6: "unparseable: expected 8 fields, found 9"},
    "non_numeric_quantity.csv": {3: "quantity_is_whole_number"},
    "fractional_quantity.csv": {3: "quantity_is_whole_number"},
    "bad_date.csv": {4: "invoice_date_is_timestamp"},
    "date_outside_the_day.csv": {5: "invoice_date_is_file_date"},
    "negative_price.csv": {7: "unit_price_not_negative"},
    "non_numeric_price.csv": {7: "unit_price_is_number"},
    "invalid_stock_code.csv": {8: "stock_code_format"},
    "invalid_invoice_no.csv": {8: "invoice_no_format"},
    "invalid_customer_id.csv": {2: "customer_id_format"},
    "missing_country.csv": {2: "country_present"},
    "long_country.csv": {2: "country_length"},
    "long_description.csv": {},
    "quantity_at_the_bound.csv": {3: "quantity_in_range"},
    "nul_byte.csv": {2: "unparseable: NUL byte at character 21"},
    "duplicate_line.csv": {5: "line_is_unique"},
    "crm_valid.csv": {},
    "crm_header_only.csv": {},
    "crm_bad_email.csv": {5: "email_format"},
    "crm_long_email.csv": {5: "email_length"},
    "crm_bad_consent.csv": {5: "marketing_consent_is_boolean"},
    "crm_duplicate_customer.csv": {22: "customer_is_unique"},
}
#: file -> what the error (and `ingest_days.detail`) says; nothing is published.
REFUSED = {
    "empty_file.csv": "file is empty: no header and no rows",
    "header_only.csv": "row_count_sanity: row count is implausible next to the recent loaded days "
    "(observed 0, allowed at least 1)",
    "missing_column.csv": "missing column(s) CustomerID",
    "renamed_column.csv": "missing column(s) CustomerID; unexpected column(s) 'Customer ID'",
    "extra_column.csv": "unexpected column(s) 'Channel'",
    "no_header.csv": "header does not match the export format",
    "cp1252_encoding.csv": "not valid UTF-8: byte 0xa3 on line 23",
    "utf16_encoding.csv": "file is UTF-16 encoded (it starts with a UTF-16 byte-order mark)",
    "gzip_compressed.csv": "file is gzip-compressed, not a CSV text export",
    "too_many_bad_rows.csv": (
        "4 of 8 rows (50.0%) broke hard rules, more than the 10% allowed. Failing expectations: "
        "quantity_is_whole_number (1 rows), invoice_date_is_file_date (1 rows), "
        "unit_price_not_negative (1 rows), country_present (1 rows)"
    ),
    "crm_missing_column.csv": "missing column(s) MarketingConsent",
}


def _is_crm(case: str) -> bool:
    return case.startswith("crm_")


def _land(case: str, landing: Path) -> Path:
    target = landing / (f"customers-{DAY}.csv" if _is_crm(case) else f"{DAY}.csv")
    shutil.copyfile(CORPUS / case, target)
    return target


def _ingest(engine: Engine, landing: Path, case: str) -> IngestReport:
    ingest = ingest_customers_day if _is_crm(case) else ingest_orders_day
    return ingest(engine, str(landing), DAY, IngestSettings.from_env(landing_url=str(landing)))


def _data_lines(path: Path) -> dict[int, str]:
    """line number -> text of every non-blank line after the header, read independently of the loader."""
    lines = re.split(r"\r\n|\n", path.read_bytes().decode("utf-8-sig"))
    return {number: line for number, line in enumerate(lines, start=1) if number > 1 and line.strip()}


def _quarantine(engine: Engine, case: str) -> dict[int, tuple[str, str]]:
    q = schema.quarantine
    kind = "customers" if _is_crm(case) else "orders"
    with engine.connect() as conn:
        rows = conn.execute(
            select(q.c.source_line, q.c.reason, q.c.raw_line)
            .where(q.c.file_date == DAY, q.c.file_kind == kind)
        )
        return {row.source_line: (row.reason, row.raw_line) for row in rows}


def _published(engine: Engine, case: str) -> list:
    """What the day has published: its order lines' numbers, or its CRM records' customers."""
    events, orders = schema.consent_events, schema.orders
    query = (
        select(events.c.customer_id).where(events.c.effective_date == DAY)
        if _is_crm(case)
        else select(orders.c.source_line).where(orders.c.order_date == DAY)
    )
    with engine.connect() as conn:
        return sorted(conn.execute(query).scalars())


@pytest.mark.parametrize("case", sorted(LOADS))
def test_a_row_level_case_loads_its_good_lines_and_quarantines_the_broken_ones(
    module_warehouse: Engine, tmp_path: Path, case: str
) -> None:
    expected = LOADS[case]
    lines = _data_lines(_land(case, tmp_path))
    report = _ingest(module_warehouse, tmp_path, case)
    quarantined = _quarantine(module_warehouse, case)
    assert report.status == "loaded"
    assert report.rows_read == len(lines)
    assert report.rows_loaded + report.rows_quarantined == report.rows_read
    reasons = {line: reason for line, (reason, _) in quarantined.items()}
    assert {line: reason[: len(expected.get(line, ""))] for line, reason in reasons.items()} == expected
    assert {line: raw for line, (_, raw) in quarantined.items()} == {line: escape_nul(lines[line]) for line in expected}
    published = _published(module_warehouse, case)
    assert len(published) == report.rows_loaded
    if not _is_crm(case):
        assert published == sorted(set(lines) - set(expected))


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_file_level_case_is_refused_and_the_published_day_stays(
    module_warehouse: Engine, tmp_path: Path, case: str
) -> None:
    _land("crm_valid.csv" if _is_crm(case) else "valid_day.csv", tmp_path)
    earlier = _ingest(module_warehouse, tmp_path, case)
    published = _published(module_warehouse, case)
    path = _land(case, tmp_path)
    with pytest.raises(IngestError) as refused:
        _ingest(module_warehouse, tmp_path, case)
    assert str(path) in str(refused.value)
    assert REFUSED[case] in str(refused.value)
    assert _published(module_warehouse, case) == published and len(published) == earlier.rows_loaded > 0
    days = schema.ingest_days
    with module_warehouse.connect() as conn:
        status, detail = conn.execute(
            select(days.c.status, days.c.detail).where(
                days.c.file_date == DAY, days.c.file_kind == ("customers" if _is_crm(case) else "orders")
            )
        ).one()
    assert status == "failed" and REFUSED[case] in detail


def test_every_corpus_file_is_a_tested_case_documented_in_the_readme() -> None:
    files = {path.name for path in CORPUS.glob("*.csv")}
    readme = (CORPUS / "README.md").read_text()
    assert files == set(LOADS) | set(REFUSED)
    assert len(files) >= 15
    assert [name for name in sorted(files) if f"`{name}`" not in readme] == []


def test_whitespace_quoted_commas_and_float_looking_ids_are_normalised(
    module_warehouse: Engine, tmp_path: Path
) -> None:
    _land("messy_whitespace_and_ids.csv", tmp_path)
    _ingest(module_warehouse, tmp_path, "messy_whitespace_and_ids.csv")
    o = schema.orders
    with module_warehouse.connect() as conn:
        rows = conn.execute(
            select(o.c.invoice_no, o.c.stock_code, o.c.description, o.c.customer_id, o.c.country)
            .add_columns(o.c.invoice_ts)
            .where(o.c.order_date == DAY)
            .order_by(o.c.source_line)
        ).all()
    morning, later = dt.datetime(2011, 3, 1, 8, 30), dt.datetime(2011, 3, 1, 9, 55)
    assert [tuple(row) for row in rows] == [
        ("545220", "21955", "DOORMAT UNION JACK", "14620", "United Kingdom", morning),
        ("545220", "48194", "DOORMAT, HEARTS", "14620", "United Kingdom", morning),
        ("545220", "22556", "PLASTERS IN TIN CIRCUS PARADE", "14620", "United Kingdom", morning),
        ("545230", "20960", None, None, "United Kingdom", later),
    ]


def test_a_description_of_any_length_is_stored_whole(module_warehouse: Engine, tmp_path: Path) -> None:
    lines = _data_lines(_land("long_description.csv", tmp_path))
    _ingest(module_warehouse, tmp_path, "long_description.csv")
    o = schema.orders
    with module_warehouse.connect() as conn:
        stored = conn.execute(select(o.c.description).where(o.c.order_date == DAY, o.c.source_line == 3)).scalar_one()
    assert len(stored) == 312 and stored == lines[3].split(",")[2]
