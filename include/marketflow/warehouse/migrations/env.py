"""Alembic environment: runs against the engine handed over in `config.attributes`."""

from alembic import context

from marketflow.warehouse.schema import metadata

engine = context.config.attributes["engine"]

with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    context.run_migrations()
