"""docker-compose.yaml and the Dockerfile against what the code expects (there is no Docker engine here:
the files are parsed and cross-checked, never run)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any

import pytest
import yaml

from marketflow.warehouse import WAREHOUSE_CONN_ID
from tests.conftest import REPO

AIRFLOW_SERVICES = {
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "airflow-worker-gpu",
}
LONG_RUNNING = AIRFLOW_SERVICES - {"airflow-init"}
WORKERS = {"airflow-worker", "airflow-worker-gpu"}
SECRET_NAME = re.compile(r"(PASSWORD|SECRET|FERNET_KEY|_AUTH)$")
VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)(?::?[-?][^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yaml").read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


def _env(service: dict[str, Any]) -> dict[str, str]:
    return {key: str(value) for key, value in (service.get("environment") or {}).items()}


def _depends(service: dict[str, Any]) -> dict[str, str]:
    return {name: spec["condition"] for name, spec in (service.get("depends_on") or {}).items()}


def _container_ports(service: dict[str, Any]) -> set[int]:
    return {int(str(port).rsplit(":", 1)[-1]) for port in service.get("ports", [])}


def test_the_stack_has_every_service(services: dict[str, Any]) -> None:
    assert set(services) == AIRFLOW_SERVICES | {"postgres", "redis", "mailpit"}


def test_every_service_has_a_health_check(services: dict[str, Any]) -> None:
    for name, service in services.items():
        test = service.get("healthcheck", {}).get("test")
        assert test and test[0] in {"CMD", "CMD-SHELL"}, name


def test_airflow_services_build_the_project_image(services: dict[str, Any]) -> None:
    for name in AIRFLOW_SERVICES:
        build = services[name]["build"]
        assert (build["context"], build["dockerfile"]) == (".", "Dockerfile"), name
        assert services[name]["image"].startswith("marketflow-airflow"), name
    assert services["airflow-worker-gpu"]["image"] != services["airflow-worker"]["image"]
    assert "cu" in services["airflow-worker-gpu"]["build"]["args"]["TORCH_INDEX_URL"]


def test_third_party_images_are_pinned(services: dict[str, Any]) -> None:
    for name in ("postgres", "redis", "mailpit"):
        image = services[name]["image"]
        assert ":" in image and not image.endswith(":latest"), image


def test_start_order_waits_for_healthy_dependencies(services: dict[str, Any]) -> None:
    assert _depends(services["airflow-init"]) == {"postgres": "service_healthy", "redis": "service_healthy"}
    for name in LONG_RUNNING:
        depends = _depends(services[name])
        assert depends["postgres"] == depends["redis"] == "service_healthy", name
        assert depends["airflow-init"] == "service_completed_successfully", name
    for name in WORKERS:
        # Tasks talk to the api-server's execution API and send mail through Mailpit.
        assert _depends(services[name])["airflow-apiserver"] == "service_healthy"
        assert _depends(services[name])["mailpit"] == "service_healthy"


def test_published_ports(services: dict[str, Any]) -> None:
    assert _container_ports(services["airflow-apiserver"]) == {8080}
    assert _container_ports(services["mailpit"]) == {8025, 1025}
    for port in services["mailpit"]["ports"]:
        assert str(port).startswith("127.0.0.1:"), "the inbox holds customers' mail: loopback only"
    for name in ("postgres", "redis"):
        assert "ports" not in services[name], f"{name} stays inside the compose network"


def test_airflow_runs_celery_against_postgres_and_redis(services: dict[str, Any]) -> None:
    for name in AIRFLOW_SERVICES:
        env = _env(services[name])
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert "@postgres:5432/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], name
        broker = env["AIRFLOW__CELERY__BROKER_URL"]
        assert broker.startswith("redis://") and "@redis:6379/" in broker, name
        assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert services["postgres"]["environment"]["POSTGRES_DB"] == "airflow"


def test_the_default_worker_serves_airflows_default_queue(services: dict[str, Any]) -> None:
    from airflow.configuration import conf

    command = services["airflow-worker"]["command"].split()
    assert command[:2] == ["celery", "worker"]
    queue = command[command.index("--queues") + 1]
    assert queue == _env(services["airflow-worker"])["AIRFLOW__OPERATORS__DEFAULT_QUEUE"]
    assert queue == conf.get("operators", "default_queue")


GPU_QUEUE_VARIABLE = "MARKETFLOW_GPU_QUEUE"


def test_dag_defaults_take_the_gpu_queue_from_that_variable() -> None:
    """The variable the compose file sets is the one `marketflow.dag_defaults.GPU_QUEUE` reads."""
    out = subprocess.run(
        [sys.executable, "-c", "from marketflow.dag_defaults import GPU_QUEUE; print(GPU_QUEUE)"],
        env={**os.environ, GPU_QUEUE_VARIABLE: "queue-probe-42"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "queue-probe-42"


def test_the_gpu_worker_listens_on_the_queue_dags_route_training_to(services: dict[str, Any]) -> None:
    variable = GPU_QUEUE_VARIABLE
    gpu = services["airflow-worker-gpu"]
    command = gpu["command"].split()
    queue_expression = command[command.index("--queues") + 1]
    assert VARIABLE.fullmatch(queue_expression).group(1) == variable
    for name in AIRFLOW_SERVICES:
        # Every component sees the same value: the dag-processor bakes it into the serialized DAGs.
        assert _env(services[name])[variable] == queue_expression, name
    assert gpu["profiles"] == ["gpu"]
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]


def _init_script() -> str:
    """docker/airflow-init.sh with continued lines joined."""
    return (REPO / "docker" / "airflow-init.sh").read_text().replace("\\\n", " ")


def test_init_creates_the_connections_the_code_uses(services: dict[str, Any]) -> None:
    script = _init_script()
    added = dict(re.findall(r"airflow connections add (\S+) --conn-type (\S+)", script))
    assert added == {WAREHOUSE_CONN_ID: "postgres", "smtp_default": "smtp"}
    assert re.search(r"smtp_default .*--conn-host mailpit --conn-port 1025", script)
    assert re.search(rf"{WAREHOUSE_CONN_ID} .*--conn-host postgres .*--conn-schema \"\$WAREHOUSE_DB\"", script)
    command = services["airflow-init"]["command"]
    assert command == ["/opt/marketflow/docker/airflow-init.sh"]
    for step in ("airflow db migrate", "marketflow warehouse upgrade", "SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"):
        assert step in script


def test_the_warehouse_database_is_created_and_the_connection_points_at_it(services: dict[str, Any]) -> None:
    postgres_env = _env(services["postgres"])
    init_env = _env(services["airflow-init"])
    for key in ("WAREHOUSE_DB", "WAREHOUSE_USER", "WAREHOUSE_PASSWORD"):
        assert postgres_env[key] == init_env[key], key
    volumes = services["postgres"]["volumes"]
    assert "./docker/postgres-init:/docker-entrypoint-initdb.d:ro" in volumes
    sql = (REPO / "docker" / "postgres-init" / "10-warehouse.sh").read_text()
    assert 'CREATE DATABASE :"wh_db" OWNER :"wh_user"' in sql


def test_files_the_workers_write_land_on_a_named_volume(compose: dict[str, Any], services: dict[str, Any]) -> None:
    """The ad-audience exports, and the embedded model converted once for every later task."""
    for name in WORKERS:
        for setting in ("MARKETFLOW_EXPORT_DIR", "MARKETFLOW_MODEL_CACHE"):
            folder = _env(services[name])[setting]
            mounts = [v.split(":") for v in services[name]["volumes"]]
            volume = next(source for source, target, *_ in mounts if folder.startswith(target + "/"))
            assert volume in compose["volumes"], f"{name}: {setting} {folder} is not on a named volume"


def test_the_ui_logins_match_the_passwords_init_writes(services: dict[str, Any]) -> None:
    env = _env(services["airflow-apiserver"])
    users = dict(pair.split(":") for pair in env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"].split(","))
    assert users == {"admin": "admin", "viewer": "viewer"}
    written = set(re.findall(r'"(\w+)": os\.environ\["AIRFLOW_\w+_PASSWORD"\]', _init_script()))
    assert written == set(users)
    secrets_volume = env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"].rsplit("/", 1)[0]
    for name in ("airflow-init", "airflow-apiserver"):
        assert f"airflow-secrets:{secrets_volume}" in services[name]["volumes"]


def test_secrets_come_from_the_env_file_only(services: dict[str, Any]) -> None:
    example = (REPO / ".env.example").read_text()
    documented = set(re.findall(r"^([A-Z0-9_]+)=", example, re.M))
    text = (REPO / "docker-compose.yaml").read_text()
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", text))
    assert required and required <= documented, required - documented
    for name, service in services.items():
        for key, value in _env(service).items():
            if SECRET_NAME.search(key):
                assert VARIABLE.search(value), f"{name}: {key} must come from .env"
        for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__BROKER_URL"):
            if key in _env(service):
                assert "${" in _env(service)[key].split("@")[0], f"{name}: {key} embeds a literal password"
    example_secrets = re.findall(r"^\w*(?:PASSWORD|SECRET|FERNET_KEY)=(.*)$", example, re.M)
    assert example_secrets and set(example_secrets) == {"change-me"}, "no real secret in .env.example"
    ignored = (REPO / ".gitignore").read_text().split()
    assert ".env" in ignored


def test_the_dockerfile_builds_on_the_pinned_airflow_and_installs_the_project() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    pin = re.search(r"^apache-airflow==(\S+)$", (REPO / "requirements.txt").read_text(), re.M).group(1)
    assert re.search(rf"^ARG AIRFLOW_VERSION={re.escape(pin)}$", dockerfile, re.M)
    assert re.search(r"^FROM apache/airflow:\$\{AIRFLOW_VERSION\}-python3\.11$", dockerfile, re.M)
    assert "-r /opt/marketflow/requirements.txt" in dockerfile
    assert "pip install --no-cache-dir --no-deps -e /opt/marketflow" in dockerfile
    copies = [
        ("dags", "/opt/airflow/dags"),
        ("plugins", "/opt/airflow/plugins"),
        ("include", "/opt/marketflow/include"),
    ]
    for source, target in copies:
        assert re.search(rf"^COPY .*\b{source} {re.escape(target)}$", dockerfile, re.M), source
    assert "docker/airflow-init.sh /opt/marketflow/docker/airflow-init.sh" in dockerfile
    assert re.search(r"^ARG TORCH_INDEX_URL=https://download\.pytorch\.org/whl/cpu$", dockerfile, re.M)
