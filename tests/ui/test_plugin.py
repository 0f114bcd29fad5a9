"""The plugin as Airflow loads it: mounted in the real api-server app, with its menu entry."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.ui.seed import SeedFacts


@pytest.fixture
def api_server(seeded_connection_env: SeedFacts, auth_manager: Any) -> TestClient:
    """Airflow's own api-server application (core apps), built in process with plugins/ loaded."""
    from airflow.api_fastapi.app import create_app

    return TestClient(create_app(apps="core"))


def _login(client: TestClient, username: str) -> str:
    passwords = json.loads(open(os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]).read())
    response = client.post("/auth/token", json={"username": username, "password": passwords[username]})
    assert response.status_code == 201, response.text
    return response.json()["access_token"]


def test_the_plugin_mounts_the_app_and_a_nav_entry() -> None:
    from airflow import plugins_manager

    apps, _ = plugins_manager.get_fastapi_plugins()
    views, _ = plugins_manager._get_ui_plugins()
    assert [(a["name"], a["url_prefix"]) for a in apps if a["name"] == "Campaigns"] == [("Campaigns", "/marketflow")]
    entry = next(v for v in views if v["name"] == "Campaigns")
    assert (entry["destination"], entry["url_route"], entry["href"]) == ("nav", "campaigns", "/marketflow/")


def test_the_api_server_serves_the_pages_to_logged_in_users_only(api_server: TestClient) -> None:
    assert api_server.get("/marketflow/").status_code == 401
    token = _login(api_server, "viewer")
    response = api_server.get("/marketflow/", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert 'href="/marketflow/campaigns/winback"' in response.text
    assert 'href="/marketflow/static/style.css"' in response.text
    plugins = api_server.get("/api/v2/plugins", headers={"Authorization": f"Bearer {token}"})
    assert plugins.status_code == 200
    assert "marketflow" in {p["name"] for p in plugins.json()["plugins"]}
