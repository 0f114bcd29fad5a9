"""Ad audiences: the campaign's treatment group as SHA-256-hashed e-mails, per platform.

Normalisation follows each platform's documented rules before hashing (lowercase hex digests):
- Google Ads Customer Match: lowercase and remove all whitespace (leading, trailing and in
  between). Google does *not* require removing dots or "+" tags from Gmail addresses for
  Customer Match (that rule belongs to enhanced conversions), so the local part is kept.
- Meta custom audiences: trim leading and trailing whitespace and lowercase; nothing else.
Files: Google's Customer Match upload CSV (header `Email`) and Meta's customer-list CSV (header
`email`), one per run and platform, hashed values only. The optional webhook gets a JSON body
with the same hashes, signed `X-Marketflow-Signature: sha256=<HMAC-SHA256(secret, body)>`.
No raw e-mail address is written or sent anywhere.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import httpx

from marketflow.campaigns.config import AdPlatform

_WHITESPACE = re.compile(r"\s+")


def normalise_for_google(email: str) -> str:
    return _WHITESPACE.sub("", email).lower()


def normalise_for_meta(email: str) -> str:
    return email.strip().lower()


NORMALISERS = {"google_ads": normalise_for_google, "meta": normalise_for_meta}
CSV_HEADERS = {"google_ads": "Email", "meta": "email"}
FILE_NAMES = {"google_ads": "google_ads_customer_match.csv", "meta": "meta_custom_audience.csv"}


def hashed_email(email: str, platform: AdPlatform) -> str:
    return hashlib.sha256(NORMALISERS[platform](email).encode("utf-8")).hexdigest()


def hashed_audience(emails: list[str], platform: AdPlatform) -> list[str]:
    """Distinct hashes, sorted: the file is the same for the same audience, whatever the order."""
    return sorted({hashed_email(e, platform) for e in emails if e and e.strip()})


def write_audience_csv(hashes: list[str], platform: AdPlatform, folder: Path) -> Path:
    """Write atomically (temp file + rename), so a crash never leaves half a file to upload."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / FILE_NAMES[platform]
    tmp = folder / f".{path.name}.tmp"
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([CSV_HEADERS[platform]])
        writer.writerows([h] for h in hashes)
    os.replace(tmp, path)
    return path


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    """For receivers (and tests): constant-time comparison of the signature header."""
    return hmac.compare_digest(sign(secret, body), signature)


@dataclass(frozen=True)
class WebhookTarget:
    url: str
    secret: str
    timeout_s: float = 10.0


def webhook_from_connection(conn_id: str) -> WebhookTarget:
    """Airflow connection: host = full URL (or host/port/schema), password = HMAC secret."""
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    if not conn.password:
        raise ValueError(f"webhook connection {conn_id!r} needs a password (the HMAC secret)")
    url = (conn.extra_dejson or {}).get("url") or conn.host or ""
    if "://" not in url:
        scheme = "http" if url in {"127.0.0.1", "localhost"} else "https"
        url = f"{scheme}://{url}{f':{conn.port}' if conn.port else ''}/{(conn.schema or '').lstrip('/')}"
    return WebhookTarget(url=url, secret=conn.password, timeout_s=float((conn.extra_dejson or {}).get("timeout", 10)))


def post_audience(target: WebhookTarget, payload: dict[str, object]) -> str:
    """POST the signed payload; returns a short status for `ad_audience_exports.webhook_status`."""
    body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")
    headers = {"Content-Type": "application/json", "X-Marketflow-Signature": sign(target.secret, body)}
    try:
        response = httpx.post(target.url, content=body, headers=headers, timeout=target.timeout_s)
    except httpx.HTTPError as exc:
        return f"error: {type(exc).__name__}"[:64]
    return f"http_{response.status_code}"
