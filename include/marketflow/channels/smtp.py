"""E-mail over SMTP: building a multipart message and one SMTP transaction with a clear outcome.

The transaction is driven step by step (MAIL, RCPT, DATA) so that every failure says whether
the server could have accepted the message:
- `accepted`: 250 after DATA;
- `transient`: a 4xx reply or a failure before DATA was sent: safe to retry;
- `recipient_rejected`: a 5xx reply to RCPT (a hard bounce);
- `rejected`: another 5xx reply: the server refused it, retrying will not help;
- `in_doubt`: the connection broke while the message was being sent or before the reply came:
  the server may or may not have it (never resent blindly; see `marketflow.channels.ledger`).

Settings come from an Airflow SMTP connection (default `smtp_default`) with the extras the
official SMTP provider uses: `disable_ssl` (default false: implicit TLS), `disable_tls`
(default false: STARTTLS when not using implicit TLS) and `timeout` (seconds, default 30); and
ours: `delivery_log`, the path of an authoritative delivery log such as the local sink's.
"""

from __future__ import annotations

import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formataddr, formatdate
from pathlib import Path
from typing import Literal

OutcomeKind = Literal["accepted", "transient", "recipient_rejected", "rejected", "in_doubt"]


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    login: str | None = None
    password: str | None = None
    use_ssl: bool = False
    use_starttls: bool = False
    timeout_s: float = 30.0
    delivery_log: Path | None = None


@dataclass(frozen=True)
class Outcome:
    kind: OutcomeKind
    code: int | None = None
    detail: str = ""


def settings_from_connection(conn_id: str) -> SmtpSettings:
    """Resolve an Airflow SMTP connection (env var, secrets backend or UI)."""
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    extra = conn.extra_dejson or {}
    use_ssl = not _flag(extra.get("disable_ssl", False))
    return SmtpSettings(
        host=conn.host or "localhost",
        port=int(conn.port or (465 if use_ssl else 25)),
        login=conn.login or None,
        password=conn.password or None,
        use_ssl=use_ssl,
        use_starttls=not use_ssl and not _flag(extra.get("disable_tls", False)),
        timeout_s=float(extra.get("timeout", 30)),
        delivery_log=Path(extra["delivery_log"]) if extra.get("delivery_log") else None,
    )


def _flag(value: object) -> bool:
    return value if isinstance(value, bool) else str(value).strip().lower() in {"1", "true", "yes", "on"}


def build_email(
    *,
    from_address: str,
    from_name: str,
    to: str,
    subject: str,
    body_text: str,
    body_html: str,
    message_id: str,
    unsubscribe_url: str,
    unsubscribe_mailto: str | None = None,
    reply_to: str | None = None,
    campaign_run: str | None = None,
) -> EmailMessage:
    """multipart/alternative (text, then HTML) with one-click unsubscribe headers (RFC 2369, RFC 8058)."""
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["From"] = formataddr((from_name, from_address)) if from_name else from_address
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = message_id
    msg["Date"] = formatdate(usegmt=True)
    if reply_to:
        msg["Reply-To"] = reply_to
    targets = [f"<{unsubscribe_url}>"]
    if unsubscribe_mailto:
        targets.append(f"<mailto:{unsubscribe_mailto}?subject=unsubscribe%20{message_id.strip('<>')}>")
    msg["List-Unsubscribe"] = ", ".join(targets)
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if campaign_run:
        msg["X-Marketflow-Run"] = campaign_run
    # quoted-printable keeps the message 7-bit clean for relays without 8BITMIME ("£" is not ASCII).
    msg.set_content(body_text, cte="quoted-printable")
    msg.add_alternative(body_html, subtype="html", cte="quoted-printable")
    return msg


class SmtpTransport:
    """One SMTP connection reused across messages, reconnecting when it drops."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpTransport:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                self._smtp.close()
            self._smtp = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.use_ssl:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                s.host, s.port, timeout=s.timeout_s, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout_s)
            if s.use_starttls:
                smtp.starttls(context=ssl.create_default_context())
        if s.login:
            smtp.login(s.login, s.password or "")
        return smtp

    def _drop(self) -> None:
        if self._smtp is not None:
            self._smtp.close()
            self._smtp = None

    def send(self, message: EmailMessage, sender: str, recipient: str) -> Outcome:
        """Run one SMTP transaction and classify its outcome (never raises for SMTP/network errors)."""
        try:
            payload = message.as_bytes(policy=SMTP_POLICY)
        except (ValueError, UnicodeError) as exc:  # unserialisable header: no server ever sees it
            return Outcome("rejected", None, f"cannot serialise the message: {exc}")
        try:
            if self._smtp is None:
                self._smtp = self._connect()
            smtp = self._smtp
            smtp.ehlo_or_helo_if_needed()
            code, reply = smtp.mail(sender)
            if code != 250:
                return self._refused(code, reply, recipient_step=False)
            code, reply = smtp.rcpt(recipient)
            if code not in (250, 251):
                return self._refused(code, reply, recipient_step=True)
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            return Outcome("transient", None, f"before DATA: {exc!r}")
        except UnicodeError as exc:  # a non-ASCII address the server cannot take (no SMTPUTF8)
            self._reset()
            return Outcome("rejected", None, f"address not sendable: {exc}")
        try:
            # data() raises for a refused DATA command but *returns* the reply to the message itself
            code, reply = smtp.data(payload)
        except smtplib.SMTPDataError as exc:
            code, reply = exc.smtp_code, exc.smtp_error
        except (smtplib.SMTPException, OSError) as exc:
            self._drop()
            return Outcome("in_doubt", None, f"during DATA: {exc!r}")
        if code == 250:
            return Outcome("accepted", code, _text(reply))
        self._reset()
        kind: OutcomeKind = "transient" if 400 <= code < 500 else "rejected"
        return Outcome(kind, code, _text(reply))

    def _refused(self, code: int, reply: bytes, *, recipient_step: bool) -> Outcome:
        self._reset()
        if 400 <= code < 500 or code < 0:
            return Outcome("transient", code, _text(reply))
        return Outcome("recipient_rejected" if recipient_step else "rejected", code, _text(reply))

    def _reset(self) -> None:
        """Abort the transaction; a server that replied 421 has closed the connection: drop it."""
        try:
            if self._smtp is not None and self._smtp.sock is not None:
                self._smtp.rset()
        except (smtplib.SMTPException, OSError):
            pass
        if self._smtp is not None and self._smtp.sock is None:
            self._drop()


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
