"""The demo's campaign side: a local SMTP sink to send to, its settings, and what to print afterwards.

The demo (and `make ui` after it) sends every campaign e-mail to a local sink
(`marketflow.channels.sink`) whose `.eml` files land in `$AIRFLOW_HOME/outbox`, and writes the
ad-audience files under `$AIRFLOW_HOME/marketflow/ad-audiences`. The settings travel as environment
variables, so every Airflow component started with them (scheduler, task processes) uses the sink.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from marketflow.channels.sink import DELIVERY_LOG, start_sink, stored_messages
from marketflow.warehouse import schema, warehouse_engine

SINK_PORT_ENV = "MARKETFLOW_SMTP_SINK_PORT"
OUTBOX_ENV = "MARKETFLOW_OUTBOX"
EXPORT_DIR_ENV = "MARKETFLOW_EXPORT_DIR"


def local_outbox(environ: Mapping[str, str] | None = None) -> Path | None:
    """The local outbox folder of `.eml` files (`$MARKETFLOW_OUTBOX`), or None where mail leaves
    through a real server: erasure and retention clean it too."""
    folder = (os.environ if environ is None else environ).get(OUTBOX_ENV)
    return Path(folder) if folder else None


@dataclass(frozen=True)
class LocalChannels:
    """Where the demo's campaign output goes: the sink's folder and port, and the ad-audience files."""

    outbox: Path
    exports: Path
    smtp_port: int

    @classmethod
    def under(cls, airflow_home: Path, smtp_port: int) -> LocalChannels:
        return cls(airflow_home / "outbox", airflow_home / "marketflow" / "ad-audiences", smtp_port)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> LocalChannels | None:
        """The channels a demo configured (`environment()`), or None outside a demo deployment."""
        environ = os.environ if environ is None else environ
        if not environ.get(SINK_PORT_ENV):
            return None
        return cls(Path(environ[OUTBOX_ENV]), Path(environ[EXPORT_DIR_ENV]), int(environ[SINK_PORT_ENV]))

    def environment(self) -> dict[str, str]:
        """`smtp_default` pointing at the sink (with its delivery log, so the send ledger can settle
        anything a crash left in doubt) and the ad-audience folder."""
        connection = {
            "conn_type": "smtp",
            "host": "127.0.0.1",
            "port": self.smtp_port,
            "extra": {"disable_ssl": True, "disable_tls": True, "delivery_log": str(self.outbox / DELIVERY_LOG)},
        }
        return {
            "AIRFLOW_CONN_SMTP_DEFAULT": json.dumps(connection),
            EXPORT_DIR_ENV: str(self.exports),
            SINK_PORT_ENV: str(self.smtp_port),
            OUTBOX_ENV: str(self.outbox),
        }

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
        """One line per campaign run: blocked and why, or treatment vs control and the uplift."""
        runs = schema.campaign_runs.c
        with warehouse_engine().connect() as conn:
            rows = conn.execute(
                select(runs.run_key, runs.send_mode, runs.status, runs.blocked_reason, runs.report).order_by(runs.run_key)
            ).all()
        return [
            f"{row.run_key} ({row.send_mode}): BLOCKED, nobody contacted: {row.blocked_reason}"
            if row.status == "blocked"
            else _report_line(row.run_key, row.send_mode, row.report)
            for row in rows
            if row.status == "blocked" or row.report is not None
        ]

    def copy_lines(self) -> list[str]:
        """One line per campaign run: who wrote its messages' copy (`messages.copy_source`), most first."""
        msgs = schema.messages.c
        with warehouse_engine().connect() as conn:
            rows = conn.execute(
                select(msgs.run_key, msgs.copy_source, func.count()).group_by(msgs.run_key, msgs.copy_source)
            ).all()
        by_run: dict[str, list[tuple[int, str]]] = {}
        for run_key, source, count in rows:
            by_run.setdefault(run_key, []).append((count, source))
        return [
            f"{run_key}: " + ", ".join(f"{count} {source}" for count, source in sorted(counts, key=lambda c: (-c[0], c[1])))
            for run_key, counts in sorted(by_run.items())
        ]


@contextlib.contextmanager
def serve(channels: LocalChannels) -> Iterator[LocalChannels]:
    """Run the SMTP sink on 127.0.0.1 while the context lasts."""
    controller = start_sink(channels.outbox, "127.0.0.1", channels.smtp_port)
    try:
        yield channels
    finally:
        controller.stop()


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
