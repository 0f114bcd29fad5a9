"""Optional copywriter: any OpenAI-compatible `/v1/chat/completions` endpoint, or the embedded model.

Configured as an Airflow connection (default id `marketflow_llm`): host (with or without scheme;
`extra.base_url` overrides), password = API key, extra `model`, `timeout` (seconds, default 10),
`temperature` (default 0.7). A connection with `extra.backend = "embedded"`, or no connection at
all, uses the model that ships with the project (`marketflow.copy.embedded`), in process and
offline. The prompt carries profile facts and catalogue products only, never an e-mail address or
customer id. Every failure raises `CopywriterError` with a short reason that ends up in
`messages.copy_source` (`template_fallback:<reason>`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import httpx

from marketflow.copy.facts import CustomerFacts


class CopywriterError(RuntimeError):
    """The endpoint could not give usable copy; `reason` is short and machine-readable."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


EMBEDDED = "embedded"


@dataclass(frozen=True)
class LlmSettings:
    endpoint: str
    api_key: str | None
    model: str
    timeout_s: float = 10.0
    temperature: float = 0.7
    backend: str = "http"

    @classmethod
    def embedded(cls) -> LlmSettings:
        from marketflow.copy.embedded import MODEL_NAME

        return cls(endpoint=EMBEDDED, api_key=None, model=MODEL_NAME, backend=EMBEDDED)


def _base_url(conn: Any) -> str:
    extra = conn.extra_dejson or {}
    if extra.get("base_url"):
        return str(extra["base_url"]).rstrip("/")
    host = (conn.host or "").rstrip("/")
    if not host:
        raise ValueError(f"LLM connection {conn.conn_id!r} has no host")
    if "://" not in host:
        scheme = "http" if host in {"127.0.0.1", "localhost"} else "https"
        host = f"{scheme}://{host}"
    if conn.port:
        host = f"{host}:{conn.port}"
    if conn.schema:
        host = f"{host}/{conn.schema.strip('/')}"
    return host


def endpoint_for(base_url: str) -> str:
    """`…/v1/chat/completions`, whether or not the base URL already ends in /v1."""
    base = base_url.rstrip("/")
    return f"{base}/chat/completions" if base.endswith("/v1") else f"{base}/v1/chat/completions"


def settings_from_connection(conn_id: str) -> LlmSettings:
    """Resolve the Airflow connection (env var, secrets backend or UI)."""
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    extra = conn.extra_dejson or {}
    if extra.get("backend") == EMBEDDED:
        return LlmSettings.embedded()
    if not extra.get("model"):
        raise ValueError(f"LLM connection {conn_id!r} needs extra.model")
    return LlmSettings(
        endpoint=endpoint_for(_base_url(conn)),
        api_key=conn.password or None,
        model=str(extra["model"]),
        timeout_s=float(extra.get("timeout", 10.0)),
        temperature=float(extra.get("temperature", 0.7)),
    )


def _prompt(facts: CustomerFacts, brief: str, shop: str, style: dict[str, str], limits: dict[str, int]) -> list[dict]:
    system = (
        f"You write short, friendly marketing e-mail copy for {shop}, an online gift shop. "
        "Reply with one JSON object with exactly two string keys: subject and intro. "
        f"The subject has at most {limits['subject']} characters, the intro at most {limits['intro']}. "
        "Mention products only by their exact names in double quotes, and prices only exactly as given. "
        "No links, no e-mail addresses, no HTML, no promises, no urgency tricks."
    )
    user = json.dumps(
        {"campaign": brief, "customer": facts.for_prompt(), "house_style_example": style}, ensure_ascii=False
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def _subject_prompt(facts: CustomerFacts, brief: str, shop: str) -> list[dict[str, str]]:
    """A small model writes one field at a time, in plain text (it cannot be relied on for JSON),
    after one worked example of the answer's shape."""
    likes = facts.favourite_group or "gifts and homeware"
    ask = "Write one short, friendly e-mail subject line (at most eight words). No prices, discounts or dates."
    return [
        {"role": "system", "content": f"You write e-mail subject lines for {shop}, an online gift shop."},
        {"role": "user", "content": f"E-mail: thank a customer who likes candles & lanterns.\n{ask}"},
        {"role": "assistant", "content": "A warm glow for your evenings"},
        {"role": "user", "content": f"E-mail: {brief}\nThe customer likes {likes}.\n{ask}"},
    ]


def _intro_prompt(facts: CustomerFacts, brief: str, shop: str) -> list[dict[str, str]]:
    likes = facts.favourite_group or "gifts and homeware"
    ask = ("Write the first two sentences of the e-mail. Do not name products, prices, discounts, dates or "
           "the customer.")
    return [
        {"role": "system", "content": f"You write short, warm e-mails for {shop}, an online gift shop."},
        {"role": "user", "content": f"E-mail: thank a customer who likes candles & lanterns.\n{ask}"},
        {"role": "assistant", "content": "Thank you for shopping with us again. We have picked a few new "
                                         "things to light up your home."},
        {"role": "user", "content": f"E-mail: {brief}\nThe customer likes {likes}.\n{ask}"},
    ]


def _subject_line(text: str) -> str:
    """The reply's first line, without a "Subject:" label, quotes, or a second sentence."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    for label in ("subject line:", "subject:"):
        if line.lower().startswith(label):
            line = line[len(label) :].strip()
    line = re.split(r"(?<=[.!?])\s", line, maxsplit=1)[0]
    return line.strip('"“”\'* ').rstrip(".")


def _two_sentences(text: str) -> str:
    """At most the first two sentences of the reply, on one line."""
    sentences = re.split(r"(?<=[.!?])\s+", " ".join(text.split()))
    return " ".join(sentences[:2]).strip()


def _parse(body: Any) -> tuple[str, str]:
    try:
        content = body["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError) as exc:
        raise CopywriterError("bad_response", "no choices[0].message.content") from exc
    text = str(content).strip()
    if text.startswith("```"):
        text = text.strip("`").removeprefix("json").strip()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CopywriterError("bad_response", "content is not JSON") from exc
    if not isinstance(data, dict) or not isinstance(data.get("subject"), str) or not isinstance(data.get("intro"), str):
        raise CopywriterError("bad_response", "expected {subject: str, intro: str}")
    return data["subject"].strip(), data["intro"].strip()


class Copywriter:
    """Writes (subject, intro) for one customer; one HTTP client reused for the whole run."""

    def __init__(self, settings: LlmSettings, *, shop: str, brief: str, limits: dict[str, int]) -> None:
        self.settings = settings
        self.shop = shop
        self.brief = brief
        self.limits = limits
        headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
        self._client = (
            None if settings.backend == EMBEDDED else httpx.Client(timeout=settings.timeout_s, headers=headers)
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def write(self, facts: CustomerFacts, style: dict[str, str]) -> tuple[str, str]:
        if self.settings.backend == EMBEDDED:
            return self._write_embedded(facts)
        return self._write_http(facts, style)

    def _write_embedded(self, facts: CustomerFacts) -> tuple[str, str]:
        from marketflow.copy.embedded import EmbeddedModelMissing, embedded_model

        try:
            model = embedded_model()
        except EmbeddedModelMissing as exc:
            raise CopywriterError("model_missing", str(exc)) from exc
        subject = _subject_line(model.chat(_subject_prompt(facts, self.brief, self.shop), 20))
        intro = _two_sentences(model.chat(_intro_prompt(facts, self.brief, self.shop), 56))
        return subject, intro

    def _write_http(self, facts: CustomerFacts, style: dict[str, str]) -> tuple[str, str]:
        payload = {
            "model": self.settings.model,
            "temperature": self.settings.temperature,
            "messages": _prompt(facts, self.brief, self.shop, style, self.limits),
        }
        assert self._client is not None  # an HTTP backend always has one
        try:
            response = self._client.post(self.settings.endpoint, json=payload)
        except httpx.TimeoutException as exc:
            raise CopywriterError("timeout", str(exc)) from exc
        except httpx.HTTPError as exc:
            raise CopywriterError("unreachable", str(exc)) from exc
        if response.status_code != 200:
            raise CopywriterError(f"http_{response.status_code}", response.text[:200])
        try:
            body = response.json()
        except ValueError as exc:
            raise CopywriterError("bad_response", "body is not JSON") from exc
        return _parse(body)
