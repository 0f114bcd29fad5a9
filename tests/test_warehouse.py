"""The warehouse schema: migrations apply on both backends, match the code, and round-trip."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select
from sqlalchemy.exc import OperationalError

from marketflow.shards import ORDER_PARTITIONS
from marketflow.warehouse import schema, upgrade_to_head, warehouse_engine
from marketflow.warehouse.connection import url_from_connection
from tests.conftest import airflow_connection_uri


#: PostgreSQL's partitions of `orders` (migration 0015)
_ORDER_PARTITIONS = {f"orders_p{index:02d}" for index in range(ORDER_PARTITIONS)} | {"orders_guests"}
#: PostgreSQL's tables with a stored `customer_hash` (migrations 0012 and 0016)
_HASHED_TABLES = {
    "orders", "customer_profiles", "customer_profiles_staging", "audience_scores", "customers", "consent_events"
}


def _in_schema_py(item: object, name: str | None, kind: str, reflected: bool, compared: object) -> bool:
    """What schema.py declares: all but PostgreSQL's own parts: the stored `customer_hash` of
    `orders` (migration 0012) and of the per-customer tables shard tasks read (0016), which no code
    writes and SQLite does not have, with their indexes; and `orders`' partitions and their
    (order_date, source_line) index, which stands for the primary key a partitioned table cannot
    have (migration 0015)."""
    if kind == "table":
        return name not in _ORDER_PARTITIONS
    if kind == "index":
        return name != "ix_orders_order_date_source_line" and not (name or "").endswith("_customer_hash")
    return not (kind == "column" and name == "customer_hash" and getattr(item, "table").name in _HASHED_TABLES)


def test_migrations_create_every_table_and_match_the_schema(empty_warehouse_url: str) -> None:
    engine = warehouse_engine(empty_warehouse_url)
    upgrade_to_head(engine)
    tables = set(inspect(engine).get_table_names())
    if engine.dialect.name == "postgresql":
        assert _ORDER_PARTITIONS <= tables
        tables -= _ORDER_PARTITIONS
    assert tables == set(schema.metadata.tables) | {"alembic_version"}
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": _in_schema_py})
        diff = compare_metadata(context, schema.metadata)
    assert diff == [], f"schema.py and the migrations disagree: {diff}"


def test_upgrade_is_idempotent(warehouse_url: str) -> None:
    engine = warehouse_engine(warehouse_url)
    upgrade_to_head(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one() == "0018"


def test_runs_from_before_0005_keep_the_window_their_stored_report_used(empty_warehouse_url: str) -> None:
    from alembic import command
    from sqlalchemy import text

    from marketflow.warehouse.migrate import alembic_config

    engine = warehouse_engine(empty_warehouse_url)
    command.upgrade(alembic_config(engine), "0004")
    insert = text(
        "INSERT INTO campaign_runs (run_key, campaign, run_day, send_mode, status, audience_size, treatment_size, "
        "control_size, report) VALUES (:key, 'winback', :day, 'live', 'reported', 0, 0, 0, :report)"
    )
    with engine.begin() as conn:
        conn.execute(insert, {"key": "winback:2011-09-01", "day": dt.date(2011, 9, 1),
                              "report": '{"window": {"start": "2011-09-02", "end": "2011-10-01"}}'})
        conn.execute(insert, {"key": "winback:2011-09-08", "day": dt.date(2011, 9, 8), "report": None})
    upgrade_to_head(engine)
    with engine.connect() as conn:
        days = dict(conn.execute(select(schema.campaign_runs.c.run_key, schema.campaign_runs.c.attribution_days)).all())
    assert days == {"winback:2011-09-01": 30, "winback:2011-09-08": 14}


_DAY = dt.date(2011, 3, 1)


def _at(time: str) -> dt.datetime:
    return dt.datetime.combine(_DAY, dt.time.fromisoformat(time))


def _line(source_line: int, code: str, at: str, description: str | None, quantity: int = 1, price: float = 1.0) -> dict:
    return {
        "order_date": _DAY, "source_line": source_line, "invoice_no": f"C{source_line}" if quantity < 0 else str(source_line),
        "stock_code": code, "description": description, "quantity": quantity, "invoice_ts": _at(at), "unit_price": price,
        "customer_id": None, "country": "United Kingdom", "is_return": quantity < 0, "source_file": "2011-03-01.csv",
    }


def test_0013_fills_the_day_descriptions_from_the_orders_as_ingest_keeps_them(empty_warehouse_url: str) -> None:
    from alembic import command

    from marketflow.ingest.derived import day_descriptions, refresh_day_descriptions
    from marketflow.warehouse.migrate import alembic_config

    engine = warehouse_engine(empty_warehouse_url)
    command.upgrade(alembic_config(engine), "0012")
    lines = [
        _line(1, "A", "09:00", "A MORNING"),
        _line(2, "A", "15:00", "A LATEST"),
        _line(3, "A", "15:00", "A LATEST TOO"),  # a tie at the latest time: both kept, the build picks
        _line(4, "A", "16:00", "A RETURNED", quantity=-1),  # later, but not a purchase
        _line(5, "A", "17:00", "A FREE", price=0.0),
        _line(6, "A", "18:00", None),
        _line(7, "B", "10:00", "B ONLY"),
    ]
    with engine.begin() as conn:
        conn.execute(schema.orders.insert(), lines)
    upgrade_to_head(engine)
    table = schema.product_day_descriptions
    ordered = select(table.c.stock_code, table.c.description, table.c.invoice_ts).order_by(table.c.stock_code, table.c.description)
    with engine.connect() as conn:
        migrated = conn.execute(ordered).all()
    with engine.begin() as conn:
        refresh_day_descriptions(conn, [_DAY], day_descriptions(pd.DataFrame(lines)))
        refreshed = conn.execute(ordered).all()
    assert migrated == refreshed == [
        ("A", "A LATEST", _at("15:00")), ("A", "A LATEST TOO", _at("15:00")), ("B", "B ONLY", _at("10:00"))
    ]


def _product_days_migrated_and_refreshed(url: str, lines: list[dict], query: Any) -> tuple[Any, list, list]:
    """`query`'s rows of `product_days` after the migrations fill it from `lines` loaded at 0013, and
    after ingest's refresh writes the same day from the same lines."""
    from alembic import command

    from marketflow.ingest.derived import product_days, refresh_products
    from marketflow.warehouse.migrate import alembic_config

    engine = warehouse_engine(url)
    command.upgrade(alembic_config(engine), "0013")
    with engine.begin() as conn:
        conn.execute(schema.orders.insert(), lines)
    upgrade_to_head(engine)
    with engine.connect() as conn:
        migrated = conn.execute(query).all()
    with engine.begin() as conn:
        refresh_products(conn, [_DAY], product_days(pd.DataFrame(lines)), set(), {line["stock_code"] for line in lines})
        refreshed = conn.execute(query).all()
    return engine, migrated, refreshed


def test_0014_fills_product_days_from_the_orders_as_ingest_keeps_them(empty_warehouse_url: str) -> None:
    lines = [
        _line(1, "A", "09:00", "A MORNING", price=1.0),
        _line(3, "A", "15:00", "A SECOND AT 15", price=3.0),  # a tie in time: the later source line wins
        _line(2, "A", "15:00", "A FIRST AT 15", price=2.0),
        _line(4, "A", "16:00", None, price=4.0),  # the latest price, but no description
        _line(5, "A", "17:00", "A FREE", price=0.0),  # the latest description, but no price
        _line(6, "B", "10:00", "B FREE ONLY", price=0.0),
    ]
    table = schema.product_days.c
    days = select(table.stock_code, table.order_date, table.description, table.unit_price).order_by(table.stock_code)
    engine, migrated, refreshed = _product_days_migrated_and_refreshed(empty_warehouse_url, lines, days)
    with engine.connect() as conn:
        products = conn.execute(select(schema.products).order_by(schema.products.c.stock_code)).all()
    assert migrated == refreshed == [("A", _DAY, "A FREE", 4.0), ("B", _DAY, "B FREE ONLY", None)]
    assert products == [("A", "A FREE", 4.0, _DAY, _DAY), ("B", "B FREE ONLY", None, _DAY, _DAY)]


def test_0018_counts_each_product_days_purchase_baskets_as_ingest_keeps_them(empty_warehouse_url: str) -> None:
    """A basket is a (customer or guest, invoice) pair with a purchase line: two lines of one invoice
    are one basket, two guests' invoices two; returns and zero quantities are no purchase."""
    def bought(line: int, code: str, customer: str | None, invoice: str, quantity: int, price: float) -> dict:
        return _line(line, code, "10:00", code, quantity=quantity, price=price) | {
            "customer_id": customer, "invoice_no": invoice
        }

    lines = [
        bought(1, "A", "12345", "500", 2, 1.5),
        bought(2, "A", "12345", "500", 3, 1.5),  # the same basket
        bought(3, "A", "12346", "501", 1, 2.0),
        bought(4, "A", None, "502", 4, 1.0),  # two guests' invoices: two baskets
        bought(5, "A", None, "503", 1, 1.0),
        bought(6, "A", "12345", "C504", -2, 1.5),  # a return
        bought(7, "B", "12345", "505", 0, 9.0),  # no quantity: no purchase
    ]
    table = schema.product_days.c
    counts = select(table.stock_code, table.baskets, table.units, table.revenue).order_by(table.stock_code)
    _, migrated, refreshed = _product_days_migrated_and_refreshed(empty_warehouse_url, lines, counts)
    assert migrated == refreshed == [("A", 4, 11, 14.5), ("B", 0, 0, 0.0)]


def test_round_trip_of_an_order_line_and_a_json_profile(warehouse_url: str) -> None:
    engine = warehouse_engine(warehouse_url)
    line = {
        "order_date": dt.date(2010, 12, 1),
        "source_line": 2,
        "invoice_no": "C536379",
        "stock_code": "85123A",
        "description": "WHITE HANGING HEART T-LIGHT HOLDER",
        "quantity": -6,
        "invoice_ts": dt.datetime(2010, 12, 1, 8, 26),
        "unit_price": 2.55,
        "customer_id": "17850",
        "country": "United Kingdom",
        "is_return": True,
        "source_file": "2010-12-01.csv",
    }
    with engine.begin() as conn:
        conn.execute(schema.orders.insert(), [line])
        conn.execute(
            schema.model_registry.insert(),
            [
                {
                    "model_id": "recommender-1",
                    "model_kind": "recommender",
                    "trained_as_of": dt.date(2011, 9, 30),
                    "metrics": {"ndcg@10": 0.25, "by_variant": {"new": 0.1}},
                    "status": "champion",
                    "registered_at": dt.datetime(2011, 10, 1, 3, 0),
                }
            ],
        )
    with engine.connect() as conn:
        assert dict(conn.execute(select(schema.orders)).mappings().one()) == line
        metrics = conn.execute(select(schema.model_registry.c.metrics)).scalar_one()
    assert metrics == {"ndcg@10": 0.25, "by_variant": {"new": 0.1}}


def test_primary_key_rejects_a_second_copy_of_a_partition_line(warehouse_url: str) -> None:
    from sqlalchemy.exc import IntegrityError

    engine = warehouse_engine(warehouse_url)
    row = {
        "file_date": dt.date(2011, 1, 4),
        "file_kind": "orders",
        "source_line": 7,
        "source_file": "2011-01-04.csv",
        "reason": "quantity is not an integer",
        "raw_line": "x",
    }
    with engine.begin() as conn:
        conn.execute(schema.quarantine.insert(), [row])
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(schema.quarantine.insert(), [row])


class _Conn:
    def __init__(self, conn_type: str, **fields: object) -> None:
        self.conn_type = conn_type
        self.host = self.login = self.password = self.schema = None
        self.port = None
        self.extra_dejson: dict = {}
        self.__dict__.update(fields)


def test_airflow_connection_types_map_to_engine_urls() -> None:
    sqlite_url = url_from_connection(_Conn("sqlite", schema="/var/lib/mf/warehouse.db"))
    assert sqlite_url.render_as_string() == "sqlite:////var/lib/mf/warehouse.db"
    pg = url_from_connection(
        _Conn("postgres", host="db", login="mf", password="s3cr@t", port=5432, schema="warehouse")
    )
    assert (pg.drivername, pg.host, pg.port, pg.database, pg.password) == (
        "postgresql+psycopg2", "db", 5432, "warehouse", "s3cr@t"
    )
    with pytest.raises(ValueError, match="type 'mysql'"):
        url_from_connection(_Conn("mysql", host="db"))


def test_a_postgres_connections_extra_reaches_the_driver_and_an_unknown_key_fails() -> None:
    """`?sslmode=verify-full` in the connection's URI is its extra: dropping it would connect
    without the certificate check the user asked for."""
    tls = {"sslmode": "verify-full", "sslrootcert": "/etc/ssl/db-ca.pem", "connect_timeout": 5}
    url = url_from_connection(_Conn("postgres", host="db", schema="warehouse", extra_dejson=tls))
    assert dict(url.query) == {"sslmode": "verify-full", "sslrootcert": "/etc/ssl/db-ca.pem", "connect_timeout": "5"}
    assert url_from_connection(_Conn("postgresql+psycopg2", host="db")).drivername == "postgresql+psycopg2"
    with pytest.raises(ValueError, match="extra 'ssl_mode', which is not a libpq connection parameter"):
        url_from_connection(_Conn("postgres", host="db", extra_dejson={"ssl_mode": "require"}))


def test_the_connection_uris_libpq_parameters_apply_to_the_warehouse_session(
    postgres_server_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through Airflow's own parsing of the URI and a real server: the session runs with the
    parameters the connection names, and a TLS requirement the server cannot meet fails the
    connection instead of falling back to plain text."""
    from sqlalchemy import text

    from marketflow.warehouse import warehouse_engine, warehouse_url

    base = airflow_connection_uri(postgres_server_url)
    monkeypatch.setenv("AIRFLOW_CONN_MARKETFLOW_WAREHOUSE", f"{base}?application_name=marketflow-test&options=-c%20statement_timeout%3D4321")
    with warehouse_engine(warehouse_url()).connect() as conn:
        settings = conn.execute(text("SELECT current_setting('application_name'), current_setting('statement_timeout')")).one()
    assert tuple(settings) == ("marketflow-test", "4321ms")
    monkeypatch.setenv("AIRFLOW_CONN_MARKETFLOW_WAREHOUSE", f"{base}?sslmode=require")
    with pytest.raises(OperationalError, match="SSL"):
        warehouse_engine(warehouse_url()).connect().close()


def test_the_airflow_connection_env_var_selects_the_warehouse(warehouse_connection_env: str) -> None:
    from sqlalchemy.engine import make_url

    from marketflow.warehouse import warehouse_url

    expected = make_url(warehouse_connection_env)
    got = warehouse_url()
    assert (got.get_backend_name(), got.database) == (expected.get_backend_name(), expected.database)


def test_upgrading_a_0001_warehouse_keeps_its_campaign_runs_and_recommendations(empty_warehouse_url: str) -> None:
    from alembic import command
    from sqlalchemy import text

    from marketflow.warehouse.migrate import alembic_config

    engine = warehouse_engine(empty_warehouse_url)
    config = alembic_config(engine)
    command.upgrade(config, "0001")
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO campaign_runs (run_key, campaign, logical_date, send_mode, status, audience_size, "
            "treatment_size, control_size) VALUES ('winback:2011-10-02', 'winback', '2011-10-02', 'live', 'sent', 3, 2, 1)"
        ))
        conn.execute(text(
            "INSERT INTO model_registry (model_id, model_kind, trained_as_of, status, registered_at) "
            "VALUES ('rec-1', 'recommender', '2011-10-03', 'champion', '2011-10-03 03:00:00')"
        ))
        conn.execute(text(
            "INSERT INTO recommendations (model_id, customer_id, rank, stock_code, score) "
            "VALUES ('rec-1', '17850', 1, '22423', 0.9), ('rec-1', '17850', 2, '71053', 0.8)"
        ))
    upgrade_to_head(engine)
    with engine.connect() as conn:
        run = conn.execute(select(schema.campaign_runs)).mappings().one()
        trained = conn.execute(select(schema.model_registry.c.trained_as_of)).scalar_one()
        recs = conn.execute(select(schema.recommendations.c.as_of_date, schema.recommendations.c.rank)).all()
    assert (run["run_day"], run["status"], run["inputs"], run["blocked_reason"]) == (dt.date(2011, 10, 2), "sent", None, None)
    assert trained == dt.date(2011, 10, 2), "a recommender's trained_as_of is now the last day it saw"
    assert sorted(recs) == [(dt.date(2011, 10, 2), 1), (dt.date(2011, 10, 2), 2)]
    command.downgrade(config, "0001")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT logical_date FROM campaign_runs")).scalar_one() in ("2011-10-02", dt.date(2011, 10, 2))
        assert str(conn.execute(text("SELECT trained_as_of FROM model_registry")).scalar_one()) == "2011-10-03"
        assert conn.execute(text("SELECT count(*) FROM recommendations")).scalar_one() == 2


def test_descriptions_of_any_length_are_kept_whole_and_a_downgrade_cuts_them_to_the_old_width(
    empty_warehouse_url: str,
) -> None:
    from alembic import command
    from sqlalchemy import insert, text

    from marketflow.warehouse.migrate import alembic_config

    engine = warehouse_engine(empty_warehouse_url)
    upgrade_to_head(engine)
    long_name = "HAND PAINTED " * 40  # 520 characters, as a marketplace listing title can be
    with engine.begin() as conn:
        conn.execute(insert(schema.products).values(
            stock_code="85123A", description=long_name, first_seen=dt.date(2011, 1, 3), last_seen=dt.date(2011, 1, 3)
        ))
    with engine.connect() as conn:
        assert conn.execute(select(schema.products.c.description)).scalar_one() == long_name
    command.downgrade(alembic_config(engine), "0002")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT description FROM products")).scalar_one() == long_name[:255]
