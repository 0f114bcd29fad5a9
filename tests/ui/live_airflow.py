"""A real `airflow api-server` in a subprocess, and headless Chromium driven by Selenium, for the
browser tests. One server per test session: it takes a while to start."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1440,1000",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def airflow(args: list[str], env: Mapping[str, str], log: Path) -> None:
    """Run an `airflow` CLI command to completion; its output goes to `log`, and into the error."""
    with log.open("ab") as out:
        result = subprocess.run([sys.executable, "-m", "airflow", *args], env=dict(env), stdout=out, stderr=out)
    if result.returncode != 0:
        raise RuntimeError(f"airflow {' '.join(args)} failed ({result.returncode}):\n{_tail(log)}")


def _tail(log: Path, lines: int = 40) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@contextmanager
def api_server(env: Mapping[str, str], port: int, log: Path, timeout: float = 180.0) -> Iterator[str]:
    """Start `airflow api-server` on 127.0.0.1:`port`; yield its base URL once it answers health checks."""
    base = f"http://127.0.0.1:{port}"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "airflow", "api-server"]
            + ["--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            env=dict(env),
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"api-server exited with {process.returncode}:\n{_tail(log)}")
            try:
                with urllib.request.urlopen(f"{base}/api/v2/monitor/health", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"api-server not healthy after {timeout:.0f} s:\n{_tail(log)}")
            time.sleep(1)
        yield base
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def chromium(profile_dir: Path) -> Any:
    """A headless Chromium session through the Debian chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={profile_dir}"]:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(90)
    return driver
