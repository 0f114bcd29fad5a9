"""The warehouse: schema, migrations and the engine behind the `marketflow_warehouse` connection."""

from marketflow.warehouse.connection import WAREHOUSE_CONN_ID, warehouse_engine, warehouse_url
from marketflow.warehouse.migrate import upgrade_to_head

__all__ = ["WAREHOUSE_CONN_ID", "warehouse_engine", "warehouse_url", "upgrade_to_head"]
