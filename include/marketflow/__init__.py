"""Marketflow: marketing automation for online shops, orchestrated by Apache Airflow.

Each stage lives in its own sub-package (ingest, quality, profiles, recommend, audiences,
copy, channels, campaigns) and talks to the others only through warehouse tables.
"""

__version__ = "0.1.0"
