"""Fixtures of the campaign DAG tests: a seeded warehouse, a real SMTP sink behind the Airflow
connection `smtp_default`, and an ad-audience export folder per test."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.campaigns.smtp_server import SmtpSink, smtp_sink


@pytest.fixture
def sink(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpSink]:
    """aiosmtpd storing .eml files, reached by the tasks through `AIRFLOW_CONN_SMTP_DEFAULT`."""
    with smtp_sink(tmp_path / "sink") as server:
        monkeypatch.setenv(
            "AIRFLOW_CONN_SMTP_DEFAULT",
            json.dumps(
                {
                    "conn_type": "smtp",
                    "host": "127.0.0.1",
                    "port": server.port,
                    "extra": {"disable_ssl": True, "disable_tls": True, "delivery_log": str(server.delivery_log)},
                }
            ),
        )
        yield server


@pytest.fixture
def export_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "ad-audiences"
    monkeypatch.setenv("MARKETFLOW_EXPORT_DIR", str(folder))
    return folder
