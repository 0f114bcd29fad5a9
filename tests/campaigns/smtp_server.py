"""A real SMTP server (aiosmtpd) for the send tests: the project's sink plus fault injection.

Faults happen at protocol level, as a real relay would produce them: 4xx/5xx replies to RCPT or
DATA, and pauses before or after the message is stored (to kill the sender at a chosen moment).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from marketflow.channels.sink import EmlFolderHandler, LocalController, stored_messages


@dataclass
class Faults:
    rcpt_codes: dict[str, str] = field(default_factory=dict)  # address -> reply, e.g. "550 5.1.1 no such user"
    data_failures: dict[str, list[str]] = field(default_factory=dict)  # address -> replies for the next DATAs
    pause_before_store_on: int | None = None  # 1-based number of the DATA to pause (not stored)
    pause_after_store_on: int | None = None  # 1-based number of the DATA to pause after storing (no 250 yet)
    paused: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    datas: int = 0


class FaultySink(EmlFolderHandler):
    def __init__(self, folder: Path, faults: Faults) -> None:
        super().__init__(folder)
        self.faults = faults

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:  # noqa: N802
        if address in self.faults.rcpt_codes:
            return self.faults.rcpt_codes[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        f = self.faults
        f.datas += 1
        queued = f.data_failures.get(envelope.rcpt_tos[0], [])
        if queued:
            return queued.pop(0)
        if f.datas == f.pause_before_store_on:
            f.paused.set()
            f.release.wait(30)
            return "451 4.3.0 dropped while paused"
        content = envelope.original_content or envelope.content
        self.store(content, list(envelope.rcpt_tos))
        if f.datas == f.pause_after_store_on:
            f.paused.set()
            f.release.wait(30)
        return "250 OK"


@dataclass
class SmtpSink:
    folder: Path
    port: int
    faults: Faults

    def messages(self) -> list[EmailMessage]:
        return [message_from_bytes(p.read_bytes(), policy=policy.default) for p in stored_messages(self.folder)]  # type: ignore[misc]

    def message_ids(self) -> list[str]:
        return [str(m["Message-ID"]) for m in self.messages()]

    @property
    def delivery_log(self) -> Path:
        return self.folder / "delivery-log.jsonl"


@contextmanager
def smtp_sink(folder: Path) -> Iterator[SmtpSink]:
    faults = Faults()
    controller = LocalController(FaultySink(folder, faults), hostname="127.0.0.1", port=0)
    controller.start()
    try:
        yield SmtpSink(folder, controller.port, faults)
    finally:
        faults.release.set()
        controller.stop()
