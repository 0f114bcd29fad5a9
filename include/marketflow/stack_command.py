"""`marketflow stack` (behind `make ui`): the local deployment in the foreground until Ctrl-C.

Starts every Airflow component on 127.0.0.1 (`marketflow.local_stack`) and, after `make demo`, the
demo's SMTP sink (with the settings it left in `$AIRFLOW_HOME/marketflow.env`), so unpaused DAGs run
on their schedules and their logs show in the UI. Ctrl-C or SIGTERM stops every process it started;
so does any component that exits on its own.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from types import FrameType

from marketflow.campaigns.demo import LocalChannels, serve
from marketflow.demo import ENV_FILE, read_env_file
from marketflow.local_stack import LocalStack


class _Stop(Exception):
    pass


def _raise_stop(signum: int, _frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def run_stack() -> int:
    home = Path(os.environ.get("AIRFLOW_HOME", Path.home() / "airflow"))
    env = {**read_env_file(home / ENV_FILE), **os.environ}  # the demo's settings, unless set otherwise
    stack = LocalStack(
        env,
        home / "logs" / "stack",
        api_port=int(os.environ.get("AIRFLOW__API__PORT", "8080")),
        log_port=int(os.environ.get("AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT", "8793")),
    )
    channels = LocalChannels.from_environment(env)
    signal.signal(signal.SIGTERM, _raise_stop)
    signal.signal(signal.SIGINT, _raise_stop)
    print(f"==> starting Airflow on {stack.base_url} (component logs: {stack.logs})", flush=True)
    try:
        with serve(channels) if channels else contextlib.nullcontext(), stack:
            if channels:
                print(f"==> SMTP sink on 127.0.0.1:{channels.smtp_port}, e-mails in {channels.outbox}")
            print(f"==> ready: {stack.base_url}/plugin/campaigns  health: {stack.health()}  (Ctrl-C stops)", flush=True)
            while True:
                exited = {name: p.returncode for name, p in stack.processes.items() if p.poll() is not None}
                if exited:
                    print(f"==> stopping: component(s) exited {exited}; see {stack.logs}")
                    return 1
                time.sleep(2)
    except _Stop as stop:
        print(f"==> {stop}: stopped every component")
        return 0
