"""How fresh a day's inputs are: the as-of date of every input a stage reads, against its day D.

A stage that works on day D reads its inputs as of D. When an input's newest usable day is older
than allowed, or missing, the work is blocked with a message that names the input and its date:
nothing in the pipeline falls back to older data silently.

Inputs, each read from the warehouse table its one producer writes:

| input | as-of date | producer |
|---|---|---|
| `orders` | newest day on or before D whose orders and CRM exports are both ingested (loaded, or recorded as a closed day) | `ingest_orders` |
| `profiles` | newest `customer_profiles` snapshot on or before D | `build_profiles` |
| `scores` | newest `audience_scores` day on or before D | `score_audiences` |
| `recommendations` | newest `recommendations` set on or before D | `train_recommender` |
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Column, Connection, func, select

from marketflow.warehouse.schema import audience_scores, customer_profiles, ingest_days, recommendations

INGESTED = ("loaded", "no_trading")
FILE_KINDS = ("orders", "customers")


def _as_date(value: object) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def _newest(conn: Connection, column: Column, day: dt.date, *where: object) -> dt.date | None:
    return _as_date(conn.execute(select(func.max(column)).where(column <= day, *where)).scalar_one())


def orders_as_of(conn: Connection, day: dt.date) -> dt.date | None:
    """The newest day on or before `day` whose orders and CRM exports are both ingested."""
    c = ingest_days.c
    newest = [_newest(conn, c.file_date, day, c.file_kind == kind, c.status.in_(INGESTED)) for kind in FILE_KINDS]
    return None if None in newest else min(newest)  # type: ignore[type-var]


def day_is_ingested(conn: Connection, day: dt.date) -> bool:
    """True when both exports of `day` are ingested (or the day is recorded as closed)."""
    c = ingest_days.c
    kinds = conn.execute(
        select(c.file_kind).where(c.file_date == day, c.status.in_(INGESTED), c.file_kind.in_(FILE_KINDS))
    ).scalars()
    return set(kinds) == set(FILE_KINDS)


_AS_OF = {
    "orders": orders_as_of,
    "profiles": lambda conn, day: _newest(conn, customer_profiles.c.as_of_date, day),
    "scores": lambda conn, day: _newest(conn, audience_scores.c.as_of_date, day),
    "recommendations": lambda conn, day: _newest(conn, recommendations.c.as_of_date, day),
}
INPUTS = tuple(_AS_OF)
PRODUCERS = {
    "orders": "ingest_orders",
    "profiles": "build_profiles",
    "scores": "score_audiences",
    "recommendations": "train_recommender",
}


@dataclass(frozen=True)
class InputState:
    """One input of a day's work: its newest usable day and how old it may be."""

    name: str
    as_of: dt.date | None
    max_age_days: int

    def problem(self, day: dt.date) -> str | None:
        """Why this input blocks work on `day`, or None when it is fresh enough."""
        if self.as_of is None:
            return f"{self.name}: none on or before {day} (run {PRODUCERS[self.name]})"
        age = (day - self.as_of).days
        if age > self.max_age_days:
            allowed = "the same day" if self.max_age_days == 0 else f"at most {self.max_age_days} day(s) older"
            return f"{self.name} as of {self.as_of} is {age} day(s) older than {day} ({allowed} allowed)"
        return None


@dataclass(frozen=True)
class Freshness:
    """The inputs of the work on `day`, and whether they allow it."""

    day: dt.date
    inputs: tuple[InputState, ...]

    @property
    def problems(self) -> list[str]:
        return [p for state in self.inputs if (p := state.problem(self.day)) is not None]

    @property
    def fresh(self) -> bool:
        return not self.problems

    def as_of(self, name: str) -> dt.date | None:
        return next(state.as_of for state in self.inputs if state.name == name)

    def as_of_dates(self) -> dict[str, str | None]:
        """Input -> as-of date (ISO), for XCom, logs and `campaign_runs.inputs`."""
        return {s.name: s.as_of.isoformat() if s.as_of else None for s in self.inputs}

    def reason(self) -> str:
        """One line for logs, the run's row and the UI."""
        if self.fresh:
            return f"inputs fresh for {self.day}: " + ", ".join(f"{n} as of {d}" for n, d in self.as_of_dates().items())
        return f"stale or missing inputs for {self.day}: " + "; ".join(self.problems)


def check(conn: Connection, day: dt.date, max_age_days: Mapping[str, int]) -> Freshness:
    """The freshness of the inputs named in `max_age_days` (input -> allowed age in days) for `day`."""
    unknown = sorted(set(max_age_days) - set(INPUTS))
    if unknown:
        raise ValueError(f"unknown input(s) {unknown}; known: {list(INPUTS)}")
    states = tuple(InputState(name, _AS_OF[name](conn, day), age) for name, age in max_age_days.items())
    return Freshness(day, states)


class StaleInputs(RuntimeError):
    """A stage's inputs for its day are missing or too old: the work must not go ahead."""

    def __init__(self, freshness: Freshness) -> None:
        super().__init__(freshness.reason())
        self.freshness = freshness


def require(conn: Connection, day: dt.date, max_age_days: Mapping[str, int]) -> Freshness:
    """`check`, raising `StaleInputs` (whose message names each stale input and its date) when stale."""
    freshness = check(conn, day, max_age_days)
    if not freshness.fresh:
        raise StaleInputs(freshness)
    return freshness
