"""Airflow plugin: the marketer's "Campaigns" screen inside the Airflow web UI.

The api-server mounts the app at /marketflow; the menu entry opens it inside the UI at
/plugin/campaigns. The app enforces Airflow login itself (plugin apps are not behind it by default).
The pages live in `marketflow.ui`, testable without an api-server.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from marketflow.ui.app import create_app

URL_PREFIX = "/marketflow"


class MarketflowPlugin(AirflowPlugin):
    name = "marketflow"
    fastapi_apps = [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "Campaigns"}]
    external_views = [
        {
            "name": "Campaigns",
            "href": f"{URL_PREFIX}/",
            "icon": f"{URL_PREFIX}/static/icon.svg",
            "destination": "nav",
            "url_route": "campaigns",
        }
    ]
