"""Campaigns: YAML config, run plans and the steps a campaign DAG calls (`pipeline`), reports."""
