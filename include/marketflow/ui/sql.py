"""Portable SQL pieces the report queries need on both SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Date, literal_column
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement


class add_days(FunctionElement[Any]):
    """`date + n days`, compiled per dialect (SQLite keeps dates as ISO text, PostgreSQL as DATE).

    `n` travels as a literal column so it is part of the statement's cache key.
    """

    type = Date()
    inherit_cache = True
    name = "add_days"

    def __init__(self, day: ColumnElement[Any], days: int) -> None:
        if not isinstance(days, int):
            raise TypeError("days must be an int: it is inlined into the SQL")
        super().__init__(day, literal_column(str(days)))


def _parts(element: add_days, compiler: Any, **kw: Any) -> tuple[str, int]:
    day, days = element.clauses
    return compiler.process(day, **kw), int(days.name)


@compiles(add_days, "sqlite")
def _add_days_sqlite(element: add_days, compiler: Any, **kw: Any) -> str:
    day, days = _parts(element, compiler, **kw)
    return f"date({day}, '{days:+d} days')"


@compiles(add_days, "postgresql")
def _add_days_postgresql(element: add_days, compiler: Any, **kw: Any) -> str:
    day, days = _parts(element, compiler, **kw)
    return f"(CAST({day} AS DATE) + {days:d})"
