"""The demo's campaign side: a local SMTP sink to send to, the run conf, and what to print afterwards.

The sample's dates are in 2011, so every campaign run is a backfill that would contact nobody:
the demo triggers the campaign DAGs with `RUN_CONF` (`force_send`) and catches every e-mail in a
local sink (`marketflow.channels.sink`) whose `.eml` files land in `$AIRFLOW_HOME/outbox`.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from marketflow.channels.sink import DELIVERY_LOG, start_sink, stored_messages
from marketflow.warehouse import schema, warehouse_engine

#: Conf for the demo's campaign runs. Both params are given: in one process Airflow 3.3 keeps a
#: run's conf in the DAG's shared `Param` objects, so a param left out would be the last run's.
RUN_CONF = {"dry_run": False, "force_send": True}

_ENV = ("AIRFLOW_CONN_SMTP_DEFAULT", "MARKETFLOW_EXPORT_DIR")


@dataclass(frozen=True)
class LocalChannels:
    """Where the demo's campaign output goes: the sink's folder and the ad-audience files."""

    outbox: Path
    exports: Path
    smtp_port: int

    def summary(self) -> dict[str, int]:
        """Counts to print after the campaign runs."""
        with warehouse_engine().connect() as conn:
            reports = conn.execute(
                select(schema.campaign_runs.c.run_key).where(schema.campaign_runs.c.report.is_not(None))
            ).all()
        files = sorted(self.exports.rglob("*.csv"))
        return {
            "e-mails in the outbox": len(stored_messages(self.outbox)),
            "ad-audience files": len(files),
            "hashed e-mails in them": sum(_data_rows(path) for path in files),
            "campaign reports": len(reports),
        }

    def report_lines(self) -> list[str]:
        """One line per reported campaign run: treatment vs control and the conversion uplift."""
        runs = schema.campaign_runs.c
        with warehouse_engine().connect() as conn:
            rows = conn.execute(
                select(runs.run_key, runs.send_mode, runs.report).where(runs.report.is_not(None)).order_by(runs.run_key)
            ).all()
        return [_report_line(run_key, mode, report) for run_key, mode, report in rows]


def _data_rows(path: Path) -> int:
    with path.open(encoding="utf-8") as handle:
        return max(sum(1 for _ in handle) - 1, 0)  # less the header


def _arm_text(arm: dict[str, Any]) -> str:
    if not arm["members"]:
        return "0 customers"
    return (
        f"{arm['members']} customers, {arm['conversion_rate']:.1%} bought, "
        f"{arm['revenue_per_customer']:.2f}/customer"
    )


def _report_line(run_key: str, mode: str, report: dict[str, Any]) -> str:
    arms, uplift = report["arms"], report["conversion_uplift"]
    measured = (
        f"uplift {uplift['estimate']:+.1%} (95% CI {uplift['low']:+.1%} .. {uplift['high']:+.1%})"
        if uplift
        else "uplift n/a (an arm is empty)"
    )
    window = report["window"]
    pending = "" if window["complete"] else f"; window to {window['end']} not complete"
    return (
        f"{run_key} ({mode}): treatment {_arm_text(arms['treatment'])} vs control "
        f"{_arm_text(arms['control'])}; {measured}{pending}"
    )


@contextlib.contextmanager
def local_channels(airflow_home: Path, port: int = 0) -> Iterator[LocalChannels]:
    """Start the SMTP sink on 127.0.0.1 and point `smtp_default` and the ad exports at `airflow_home`.

    Sets `AIRFLOW_CONN_SMTP_DEFAULT` (with the sink's delivery log, so the send ledger can settle
    anything a crash left in doubt) and `MARKETFLOW_EXPORT_DIR` for this process while it lasts;
    DAG runs through `dag.test` in the same process use them. `port=0` lets the OS pick a free port.
    """
    outbox = airflow_home / "outbox"
    exports = Path(os.environ.get("MARKETFLOW_EXPORT_DIR") or airflow_home / "marketflow" / "ad-audiences")
    controller = start_sink(outbox, "127.0.0.1", port)
    saved = {name: os.environ.get(name) for name in _ENV}
    os.environ["AIRFLOW_CONN_SMTP_DEFAULT"] = json.dumps(
        {
            "conn_type": "smtp",
            "host": "127.0.0.1",
            "port": controller.port,
            "extra": {"disable_ssl": True, "disable_tls": True, "delivery_log": str(outbox / DELIVERY_LOG)},
        }
    )
    os.environ["MARKETFLOW_EXPORT_DIR"] = str(exports)
    try:
        yield LocalChannels(outbox=outbox, exports=exports, smtp_port=controller.port)
    finally:
        controller.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
