"""The shop's trading calendar: tells "no export because the shop was closed" from "export is late".

Closed: the configured weekdays (Saturday), public holidays of the configured country/subdivision
(England's bank holidays, including the 2011-04-29 royal wedding), yearly closures (Christmas
shutdown 24 Dec - 3 Jan) and one-off closed dates (Easter Sunday 2011). Together they are exactly the
days without an export in the real 2010-12-01..2011-10-31 history.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any

from marketflow.ingest.settings import CalendarSettings

_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@lru_cache(maxsize=8)
def _public_holidays(country: str, subdiv: str | None) -> Any:
    import holidays

    return holidays.country_holidays(country, subdiv=subdiv)


def closure_reason(day: dt.date, calendar: CalendarSettings) -> str | None:
    """Why the shop does not trade on `day`, or None when it is a trading day."""
    if day in calendar.closed_dates:
        return calendar.closed_dates[day]
    if day.weekday() in calendar.closed_weekdays:
        return _WEEKDAY_NAMES[day.weekday()]
    for closure in calendar.annual_closures:
        if closure.covers(day):
            return closure.label
    if calendar.bank_holidays_country:
        holiday = _public_holidays(calendar.bank_holidays_country, calendar.bank_holidays_subdiv).get(day)
        if holiday:
            return f"bank holiday: {holiday}"
    return None


def is_trading_day(day: dt.date, calendar: CalendarSettings) -> bool:
    return closure_reason(day, calendar) is None
