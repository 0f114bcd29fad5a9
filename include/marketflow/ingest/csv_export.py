"""Read an export file into columns of text, keeping every line's number and raw text.

The exports are one record per physical line (the real files never break a field across lines), so a
broken line (unclosed quote, wrong number of fields, cut off at the end of the file) is rejected on
its own with its line number instead of corrupting its neighbours. Whole-file problems (encoding,
empty file, wrong header) raise `ExportFileError` with a message that says what to fix.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from marketflow.ingest.errors import ExportFileError

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class RejectedLine:
    line_no: int
    reason: str
    raw: str


@dataclass
class ExportText:
    """The structurally sound records of a file as columns (stripped text), plus the rejected lines.

    An adapter may turn one record into two rows (an order line and its cancellation): the second
    carries the record's line number negated, and both load or are quarantined together.
    """

    url: str
    columns: dict[str, list[Any]]
    line_numbers: list[int]
    raw_lines: list[str]
    rejected: list[RejectedLine] = field(default_factory=list)

    @cached_property
    def rows_read(self) -> int:
        """Data records in the file (blank lines are not rows)."""
        return len({abs(line) for line in self.line_numbers}) + len(self.rejected)


#: The first bytes of files that are not text, and what they are (the message names it).
_SIGNATURES = {
    b"\x1f\x8b": "gzip-compressed",
    b"PK\x03\x04": "a ZIP archive (or an Excel .xlsx workbook)",
    b"BZh": "bzip2-compressed",
    b"\xfd7zXZ\x00": "xz-compressed",
    b"\x28\xb5\x2f\xfd": "zstd-compressed",
    b"\xd0\xcf\x11\xe0": "an Excel .xls workbook",
    b"PAR1": "a Parquet file",
}
#: A line holding this is binary, not text: its line is rejected (and stored with it escaped).
NUL = "\x00"


def escape_nul(text: str) -> str:
    """`text` with NUL characters written as `\\x00` (PostgreSQL text cannot hold them)."""
    return text.replace(NUL, "\\x00")


def decode(content: bytes, url: str) -> str:
    """UTF-8 text (a BOM is allowed and dropped); a compressed or binary file, UTF-16 or any other
    encoding is refused with what it is and what to do."""
    for signature, what in _SIGNATURES.items():
        if content.startswith(signature):
            raise ExportFileError(url, f"file is {what}, not a CSV text export: export (or unpack) it as UTF-8 CSV")
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ExportFileError(url, "file is UTF-16 encoded (it starts with a UTF-16 byte-order mark); the export must be UTF-8")
    head = content[:4096]
    if head.count(0) * 4 >= len(head) > 0:  # UTF-16 text has a NUL beside every ASCII character
        raise ExportFileError(
            url, f"file is UTF-16 encoded or binary ({head.count(0)} of its first {len(head)} bytes are NUL); "
            "the export must be UTF-8 text"
        )
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line_no = content.count(b"\n", 0, error.start) + 1
        byte = content[error.start]
        raise ExportFileError(
            url,
            f"not valid UTF-8: byte 0x{byte:02x} on line {line_no} "
            "(looks like a Windows-1252/Latin-1 export); re-export the file as UTF-8",
        ) from None


def _split_fields(line: str, delimiter: str = ",") -> list[str] | None:
    """The fields of one CSV record, or None when a quote is left open."""
    if '"' not in line:
        return line.split(delimiter)
    if line.count('"') % 2:
        return None
    try:
        rows = list(csv.reader(io.StringIO(line, newline=""), delimiter=delimiter))
    except csv.Error:
        return None
    return rows[0] if len(rows) == 1 else None  # a line break outside quotes: not one record


@dataclass(frozen=True)
class Record:
    """One structurally sound record: its first line's number, its text and its fields."""

    line_no: int
    raw: str
    fields: list[str]


@dataclass
class Records:
    """A file's header and its records, before any column is interpreted.

    A file has tens of thousands of records, so they are kept as parallel lists of line numbers and
    raw text, not an object each: a record's fields are its text split at the delimiter, except for
    the records in `split_fields` (by position: quoted fields, or several physical lines).
    """

    url: str
    header: list[str]
    delimiter: str
    line_numbers: list[int]
    raw_lines: list[str]
    split_fields: dict[int, list[str]]
    rejected: list[RejectedLine]

    @property
    def records(self) -> list[Record]:
        return [Record(*record) for record in zip(self.line_numbers, self.raw_lines, self._rows())]

    def _rows(self) -> list[list[str]]:
        split = self.split_fields
        return [split.get(index) or raw.split(self.delimiter) for index, raw in enumerate(self.raw_lines)]

    def _fields(self) -> list[str]:
        """Every record's fields, record after record, in one flat list (plain runs split at once)."""
        flat: list[str] = []
        start = 0
        for index in sorted(self.split_fields) + [len(self.raw_lines)]:
            if index > start:
                flat += self.delimiter.join(self.raw_lines[start:index]).split(self.delimiter)
            if index < len(self.raw_lines):
                flat += self.split_fields[index]
            start = index + 1
        return flat

    def position(self, name: str) -> int | None:
        """The index of column `name` (None when the file lacks it)."""
        return self.header.index(name) if name in self.header else None

    def require(self, needed: tuple[str, ...], what: str) -> None:
        """Refuse the file when it lacks any of the `needed` columns or repeats one of them."""
        problems = header_problems(self.header, needed, exact=False)
        if problems:
            raise ExportFileError(self.url, f"header does not match {what}: {'; '.join(problems)}")

    def column(self, name: str) -> list[str]:
        """Column `name` of every record, stripped ('' for every record when the file lacks it)."""
        return self.columns((name,))[name]

    def columns(self, names: tuple[str, ...]) -> dict[str, list[str]]:
        """Several columns at once, each as `column` gives it (one split of the whole file)."""
        count, width = len(self.raw_lines), len(self.header)
        flat = self._fields() if any(name in self.header for name in names) else []
        return {
            name: list(map(str.strip, flat[position::width])) if (position := self.position(name)) is not None
            else [""] * count
            for name in names
        }


def header_problems(header: list[str], needed: tuple[str, ...], *, exact: bool) -> list[str]:
    """What is wrong with `header`: missing `needed` columns, repeated ones and, when `exact`, any
    other column (an exact layout names its columns bare, a mapping's in quotes)."""
    name = str if exact else repr
    missing = [column for column in needed if column not in header]
    unexpected = [column for column in header if column not in needed] if exact else []
    repeated = sorted({column for column in (header if exact else needed) if header.count(column) > 1})
    problems = []
    if missing:
        problems.append(f"missing column(s) {', '.join(map(name, missing))}")
    if unexpected:
        problems.append(f"unexpected column(s) {', '.join(map(repr, unexpected))}")
    if repeated:
        problems.append(f"repeated column(s) {', '.join(map(name, repeated))}")
    return problems


#: A record may span this many physical lines (a quoted note with line breaks); more is an unclosed quote.
MAX_RECORD_LINES = 50


def read_records(content: bytes, url: str, delimiter: str = ",", multiline: bool = False) -> Records:
    """Split `content` into a header and records of `delimiter`-separated fields.

    One record per physical line unless `multiline` (a quoted field may then hold line breaks, up to
    `MAX_RECORD_LINES` lines). A broken record is rejected on its own with its line number and reason.
    """
    text = decode(content, url)
    if not text.strip():
        raise ExportFileError(url, "file is empty: no header and no rows")
    lines = text.split("\n") if "\r" not in text else _LINE_BREAK.split(text)
    terminated = lines[-1] == ""
    if terminated:
        lines.pop()
    header = [name.strip() for name in (_split_fields(lines[0], delimiter) or [lines[0]])]
    width = len(header)
    line_numbers: list[int] = []
    raw_lines: list[str] = []
    split_fields: dict[int, list[str]] = {}
    rejected: list[RejectedLine] = []
    last_index = len(lines) - 1
    cut_off = last_index if not terminated else -1  # a last line without its line ending
    # The common line: not blank, no quote, no NUL, all its fields, not cut off. Runs of them are
    # taken whole (split later, all at once); every other line is looked at on its own below.
    expected = width - 1
    others = [
        position for position, line in enumerate(lines)
        if not (line.count(delimiter) == expected and '"' not in line and NUL not in line and line and not line.isspace())
        or position == cut_off
    ]
    index = 1
    for other in others + [len(lines)]:
        if other < index:  # the header, or a line already joined to a record of several lines
            continue
        raw_lines += lines[index:other]
        line_numbers += range(index + 1, other + 1)
        if other == len(lines):
            break
        line, first = lines[other], other
        index = other + 1
        if not line or line.isspace():  # blank (as `not line.strip()`, without a copy of every line)
            continue
        fields = _split_fields(line, delimiter)
        if fields is None and multiline and NUL not in line:
            joined, end = line, first
            while end < min(last_index, first + MAX_RECORD_LINES - 1):
                end += 1
                joined += "\n" + lines[end]
                if joined.count('"') % 2 == 0:
                    candidate = _split_fields(joined, delimiter)
                    if candidate is not None and len(candidate) == width:  # else: the line alone is broken
                        line, fields, index = joined, candidate, end + 1
                    break
        line_no = first + 1
        if NUL in line:
            reason = f"NUL byte at character {line.index(NUL) + 1}: binary data in a text line"
            line = escape_nul(line)
        elif index - 1 == last_index and not terminated:
            reason = "last line has no line ending: the file looks truncated"
        elif fields is None:
            reason = "unclosed quote"
        elif len(fields) != width:
            reason = f"expected {width} fields, found {len(fields)}"
        else:
            split_fields[len(raw_lines)] = fields
            line_numbers.append(line_no)
            raw_lines.append(line)
            continue
        rejected.append(RejectedLine(line_no, reason, line))
    return Records(url, header, delimiter, line_numbers, raw_lines, split_fields, rejected)


def read_export(content: bytes, url: str, expected_columns: tuple[str, ...]) -> ExportText:
    """Split `content` into exactly the expected columns by header name (column order may differ)."""
    found = read_records(content, url)
    problems = header_problems(found.header, expected_columns, exact=True)
    if problems:
        raise ExportFileError(
            url, f"header does not match the export format: {'; '.join(problems)} "
            f"(expected {','.join(expected_columns)})"
        )
    return ExportText(url, found.columns(expected_columns), found.line_numbers, found.raw_lines, found.rejected)
