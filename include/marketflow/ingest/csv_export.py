"""Read an export file into columns of text, keeping every line's number and raw text.

The exports are one record per physical line (the real files never break a field across lines), so a
broken line (unclosed quote, wrong number of fields, cut off at the end of the file) is rejected on
its own with its line number instead of corrupting its neighbours. Whole-file problems (encoding,
empty file, wrong header) raise `ExportFileError` with a message that says what to fix.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field

from marketflow.ingest.errors import ExportFileError

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class RejectedLine:
    line_no: int
    reason: str
    raw: str


@dataclass
class ExportText:
    """The structurally sound lines of a file as columns (stripped text), plus the rejected lines."""

    url: str
    columns: dict[str, list[str]]
    line_numbers: list[int]
    raw_lines: list[str]
    rejected: list[RejectedLine] = field(default_factory=list)

    @property
    def rows_read(self) -> int:
        """Data lines in the file (blank lines are not rows)."""
        return len(self.line_numbers) + len(self.rejected)


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


def _split_fields(line: str) -> list[str] | None:
    """The fields of one CSV line, or None when a quote is left open."""
    if '"' not in line:
        return line.split(",")
    if line.count('"') % 2:
        return None
    return next(csv.reader([line]))


def read_export(content: bytes, url: str, expected_columns: tuple[str, ...]) -> ExportText:
    """Split `content` into the expected columns by header name (column order may differ)."""
    text = decode(content, url)
    if not text.strip():
        raise ExportFileError(url, "file is empty: no header and no rows")
    lines = _LINE_BREAK.split(text)
    terminated = lines[-1] == ""
    if terminated:
        lines.pop()

    header = [name.strip() for name in (_split_fields(lines[0]) or [lines[0]])]
    missing = [name for name in expected_columns if name not in header]
    unexpected = [name for name in header if name not in expected_columns]
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if missing or unexpected or duplicated:
        problems = []
        if missing:
            problems.append(f"missing column(s) {', '.join(missing)}")
        if unexpected:
            problems.append(f"unexpected column(s) {', '.join(repr(name) for name in unexpected)}")
        if duplicated:
            problems.append(f"repeated column(s) {', '.join(duplicated)}")
        raise ExportFileError(
            url, f"header does not match the export format: {'; '.join(problems)} "
            f"(expected {','.join(expected_columns)})"
        )

    width = len(header)
    positions = [header.index(name) for name in expected_columns]
    rows: list[list[str]] = []
    line_numbers: list[int] = []
    raw_lines: list[str] = []
    rejected: list[RejectedLine] = []
    last_index = len(lines) - 1
    for index in range(1, len(lines)):
        line = lines[index]
        if not line.strip():
            continue
        line_no = index + 1
        fields = _split_fields(line)
        if NUL in line:
            reason = f"NUL byte at character {line.index(NUL) + 1}: binary data in a text line"
            line = escape_nul(line)
        elif index == last_index and not terminated:
            reason = "last line has no line ending: the file looks truncated"
        elif fields is None:
            reason = "unclosed quote"
        elif len(fields) != width:
            reason = f"expected {width} fields, found {len(fields)}"
        else:
            rows.append(fields)
            line_numbers.append(line_no)
            raw_lines.append(line)
            continue
        rejected.append(RejectedLine(line_no, reason, line))

    columns = {
        name: [row[position].strip() for row in rows] for name, position in zip(expected_columns, positions)
    }
    return ExportText(url, columns, line_numbers, raw_lines, rejected)
