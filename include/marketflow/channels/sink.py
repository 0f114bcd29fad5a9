"""A local SMTP sink for the demo and tests: every accepted message becomes an `.eml` file.

Open the files with any mail client (or read them as text). Before answering 250 the sink appends
a `delivered` event to `delivery-log.jsonl` in the same folder, so the log is *authoritative*:
a Message-ID missing from it was never accepted. Point the SMTP connection's extra
`delivery_log` at that file and the send ledger can settle messages a crash left in doubt
(see `marketflow.channels.ledger`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
import threading
import time
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

DELIVERY_LOG = "delivery-log.jsonl"


def file_safe(text: str) -> str:
    """The part of a message id that may stand in a file name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text.strip("<>"))[:120] or "no-message-id"


class EmlFolderHandler:
    """aiosmtpd handler: store the message, log the delivery, then accept."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.log_path = folder / DELIVERY_LOG
        self._lock = threading.Lock()

    def store(self, content: bytes, recipients: list[str]) -> Path:
        headers = BytesHeaderParser().parsebytes(content)
        message_id = str(headers.get("Message-ID", "")).strip()
        name = f"{time.time_ns()}-{file_safe(message_id)}.eml"
        tmp = self.folder / f".{name}.tmp"
        tmp.write_bytes(content)
        os.replace(tmp, self.folder / name)
        event = {
            "event_id": "sink:" + hashlib.sha256(f"{message_id}|{name}".encode()).hexdigest()[:40],
            "event_type": "delivered",
            "message_id": message_id or None,
            "recipients": recipients,
            "occurred_at": dt.datetime.now(dt.timezone.utc).isoformat(),
            "file": name,
        }
        with self._lock, self.log_path.open("a", encoding="utf-8") as log:
            log.write(json.dumps(event) + "\n")
            log.flush()
            os.fsync(log.fileno())
        return self.folder / name

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8")
        path = self.store(content, list(envelope.rcpt_tos))
        return f"250 OK stored as {path.name}"


class LocalController(Controller):
    """aiosmtpd's threaded controller, also on port 0 (the OS picks a free port; read `.port`)."""

    def _trigger_server(self) -> None:
        if self.port == 0 and self.server is not None:
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def start_sink(folder: Path, host: str = "127.0.0.1", port: int = 1025) -> LocalController:
    """Start the sink in a background thread; call `.stop()` when done."""
    # aiosmtpd logs every connection at INFO; the stored .eml files are the record that matters.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    controller = LocalController(EmlFolderHandler(folder), hostname=host, port=port)
    controller.start()
    return controller


def stored_messages(folder: Path) -> list[Path]:
    """The `.eml` files in the sink, oldest first."""
    return sorted(folder.glob("*.eml"))
