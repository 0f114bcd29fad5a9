"""A local Airflow deployment on one machine: every component Airflow 3 needs, as processes bound to
127.0.0.1, started together and stopped together.

- `airflow api-server`: the UI, the REST API and the execution API that task processes report to;
- `airflow scheduler` (LocalExecutor), `airflow dag-processor`, `airflow triggerer`;
- a task-log server for the logs of running tasks: Airflow's own log app served by uvicorn on
  127.0.0.1 (the built-in one listens on every interface), with task hosts named `127.0.0.1`
  (`loopback_hostname`) so the UI fetches logs from it.

Each component runs in its own process group and is stopped as a group (LocalExecutor workers
ignore a lone SIGTERM to their parent). `make ui`, `make demo` and the scheduler test use this.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

LOOPBACK = "127.0.0.1"
COMPONENTS = ("scheduler", "dag_processor", "triggerer")


def loopback_hostname() -> str:
    """`[core] hostname_callable` of a local deployment: task hosts are this machine's loopback."""
    return LOOPBACK


def local_environment(base: Mapping[str, str], api_port: int, log_port: int) -> dict[str, str]:
    """`base` plus what makes every component agree on 127.0.0.1 addresses and ports."""
    return {
        **base,
        "AIRFLOW__API__HOST": LOOPBACK,
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": f"http://{LOOPBACK}:{api_port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://{LOOPBACK}:{api_port}/execution/",
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{__name__}.loopback_hostname",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(log_port),
    }


@dataclass
class LocalStack:
    """The components of one Airflow home; use as a context manager, or `start()` and `stop()`."""

    env: Mapping[str, str]
    logs: Path
    api_port: int = 8080
    log_port: int = 8793
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.api_port}"

    def commands(self) -> dict[str, list[str]]:
        airflow = [sys.executable, "-m", "airflow"]
        return {
            "api-server": [*airflow, "api-server", "--host", LOOPBACK, "--port", str(self.api_port), "--workers", "1"],
            "scheduler": [*airflow, "scheduler", "--skip-serve-logs"],
            "dag-processor": [*airflow, "dag-processor"],
            "triggerer": [*airflow, "triggerer", "--skip-serve-logs"],
            "log-server": [
                sys.executable, "-m", "uvicorn", "--factory", "airflow.utils.serve_logs.log_server:get_app",
                "--host", LOOPBACK, "--port", str(self.log_port), "--no-access-log",
            ],
        }

    def start(self, timeout: float = 180.0) -> LocalStack:
        """Start every component; return once the api-server reports each of them healthy."""
        self.logs.mkdir(parents=True, exist_ok=True)
        env = local_environment(self.env, self.api_port, self.log_port)
        try:
            for name, argv in self.commands().items():
                with (self.logs / f"{name}.log").open("ab") as out:
                    self.processes[name] = subprocess.Popen(
                        argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
                    )
            self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def health(self) -> dict[str, str]:
        """Component -> status as the UI's home page shows it ("healthy", "unhealthy", or why unknown)."""
        try:
            with urllib.request.urlopen(f"{self.base_url}/api/v2/monitor/health", timeout=5) as response:
                body = json.load(response)
        except OSError as error:
            return {"api-server": f"not answering ({error})"}
        return {name: (body.get(name) or {}).get("status") or "unknown" for name in ("metadatabase", *COMPONENTS)}

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            exited = {name: p.returncode for name, p in self.processes.items() if p.poll() is not None}
            if exited:
                raise RuntimeError(f"Airflow component(s) exited: {exited}; logs in {self.logs}")
            status = self.health()
            if all(value == "healthy" for value in status.values()) and "api-server" not in status:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"Airflow not healthy after {timeout:.0f} s: {status}; logs in {self.logs}")
            time.sleep(1)

    def stop(self, grace: float = 20.0) -> None:
        """Stop every component started, each with its whole process group."""
        for process in self.processes.values():
            if process.poll() is None:
                _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in self.processes.values():
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()
            _signal_group(process, signal.SIGKILL)  # workers the parent left behind
        self.processes.clear()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.stop()


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass
