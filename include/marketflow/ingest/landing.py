"""The landing location, read through fsspec: a local folder, `s3://...`, `memory://...` alike.

A day's export is two files: `YYYY-MM-DD.csv` (order lines) and `customers-YYYY-MM-DD.csv` (the CRM
export of the same shop system), and optionally a third, `erasure-requests-YYYY-MM-DD.csv`
(`marketflow.privacy.requests`).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import Enum
from typing import Any


_ORDERS_FILE = re.compile(r"(\d{4}-\d{2}-\d{2})\.csv$")


class FileKind(str, Enum):
    ORDERS = "orders"
    CUSTOMERS = "customers"

    def file_name(self, day: dt.date) -> str:
        prefix = "" if self is FileKind.ORDERS else "customers-"
        return f"{prefix}{day.isoformat()}.csv"


@dataclass(frozen=True)
class Landing:
    """One landing location; paths are joined with `/` whatever the backend."""

    url: str

    def _fs_and_root(self) -> tuple[Any, str]:
        from fsspec.core import url_to_fs

        fs, root = url_to_fs(self.url)
        return fs, root.rstrip("/")

    def url_of(self, kind: FileKind, day: dt.date) -> str:
        return self.url_for(kind.file_name(day))

    def url_for(self, name: str) -> str:
        """The URL of a file of this location, as messages name it."""
        return f"{self.url.rstrip('/')}/{name}"

    def read_bytes(self, kind: FileKind, day: dt.date) -> bytes:
        fs, root = self._fs_and_root()
        return bytes(fs.cat_file(f"{root}/{kind.file_name(day)}"))

    def read_named(self, name: str) -> bytes:
        """A file of the landing location by name (exports other than a day's two: erasure requests)."""
        fs, root = self._fs_and_root()
        return bytes(fs.cat_file(f"{root}/{name}"))

    def names(self) -> list[str]:
        """The names of the files present (none when the location does not exist)."""
        fs, root = self._fs_and_root()
        fs.invalidate_cache(root)
        if not fs.exists(root):
            return []
        return sorted(str(path).rsplit("/", 1)[-1] for path in fs.ls(root, detail=False))

    def remove(self, name: str) -> None:
        fs, root = self._fs_and_root()
        fs.rm_file(f"{root}/{name}")

    def write_bytes(self, kind: FileKind, day: dt.date, content: bytes) -> None:
        fs, root = self._fs_and_root()
        fs.makedirs(root, exist_ok=True)
        fs.pipe_file(f"{root}/{kind.file_name(day)}", content)

    def missing(self, day: dt.date) -> list[str]:
        """URLs of the day's export files that have not arrived (listing caches are dropped first:
        object stores such as s3fs cache directory listings, and a sensor must see new files)."""
        fs, root = self._fs_and_root()
        fs.invalidate_cache(root)
        return [self.url_of(kind, day) for kind in FileKind if not fs.exists(f"{root}/{kind.file_name(day)}")]

    def newest_export(self) -> dt.date | None:
        """The day of the newest orders export present (`YYYY-MM-DD.csv`), or None when there is none."""
        days = [match.group(1) for name in self.names() if (match := _ORDERS_FILE.fullmatch(name))]
        return dt.date.fromisoformat(max(days)) if days else None
