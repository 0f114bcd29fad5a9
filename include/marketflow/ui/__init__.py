"""The marketer's screen: a FastAPI app served by Airflow's api-server (see plugins/marketflow_ui.py).

Kept out of `plugins/` so it can be tested without an api-server: the plugin file only mounts it.
"""
