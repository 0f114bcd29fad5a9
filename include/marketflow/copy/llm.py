"""Optional copywriter: any OpenAI-compatible `/v1/chat/completions` endpoint, or the embedded model.

Configured as an Airflow connection (default id `marketflow_llm`): host (with or without scheme;
`extra.base_url` overrides), password = API key, extra `model`, `timeout` (seconds, default 10),
`temperature` (default 0.7); the endpoint answers with JSON `{subject, preheader, intro}`. A
connection with `extra.backend = "embedded"`, or no connection at all, uses the model that ships
with the project (`marketflow.copy.embedded`), in process and offline. The prompt carries profile facts and catalogue products only, never an e-mail address or
customer id. Every failure raises `CopywriterError` with a short reason that ends up in
`messages.copy_source` (`template_fallback:<reason>`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import httpx

from marketflow.copy.draft import LANGUAGES, Draft
from marketflow.copy.facts import CustomerFacts

if TYPE_CHECKING:
    from marketflow.copy.embedded import ChatRequest


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


def _prompt(facts: CustomerFacts, brief: str, shop: str, style: Draft, limits: dict[str, int], language: str) -> list[dict]:
    system = (
        f"You write short, friendly marketing e-mail copy for {shop}, an online gift shop, in {LANGUAGES[language]}. "
        "Reply with one JSON object with exactly three string keys: subject, preheader and intro. "
        f"The subject has at most {limits['subject']} characters, the preheader (the line an inbox shows after "
        f"the subject) at most {limits['preheader']}, the intro at most {limits['intro']}. "
        "Mention products only by their exact names in double quotes, and prices only exactly as given. "
        "No links, no e-mail addresses, no HTML, no promises, no urgency tricks."
    )
    user = json.dumps(
        {"campaign": brief, "customer": facts.for_prompt(), "house_style_example": asdict(style)}, ensure_ascii=False
    )
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


#: part -> (what to write, two worked examples of the answer, its first words, the most tokens it may take).
#: The examples and first words were chosen on the demo's customers (bench/copy): with one example
#: and no first words the model wrote as "I" (87 % of 200 preheaders), apologised, or restated the brief.
_SMALL_MODEL_PARTS: dict[str, tuple[str, tuple[str, str], str, int]] = {
    "subject": (
        "Write the subject line (at most eight words).",
        ("A warm glow for your evenings", "New bags we think you will love"),
        "",
        16,
    ),
    "preheader": (
        "Write the line an inbox shows after the subject (at most ten words).",
        ("We picked a few lanterns with your home in mind", "We found a few new favourites for your next trip"),
        "We",
        20,
    ),
    "intro": (
        "Write the first two sentences of the e-mail, without product names.",
        (
            "Thank you for shopping with us again. We have picked a few new things to light up your home.",
            "We have been busy adding new bags to the shop. Here are a few we think you will like.",
        ),
        "We",
        48,
    ),
}
_EXAMPLE_BRIEFS = (
    "thank a customer who likes candles & lanterns",
    "tell a customer who likes bags that we picked a few things for them",
)


def _field_prompt(facts: CustomerFacts, brief: str, shop: str, language: str, part: str) -> list[dict[str, str]]:
    """A small model writes one part at a time, in plain text (it cannot be relied on for JSON),
    after two worked examples of the answer's shape."""
    ask, examples, _, _ = _SMALL_MODEL_PARTS[part]
    system = (
        f"You are the copywriter of {shop}, an online gift shop, writing in {LANGUAGES[language]}. "
        'The shop speaks as "we". Never mention prices, discounts, offers or dates.'
    )
    chat = [{"role": "system", "content": system}]
    for example_brief, answer in zip(_EXAMPLE_BRIEFS, examples):
        chat += [{"role": "user", "content": f"E-mail: {example_brief}. {ask}"}, {"role": "assistant", "content": answer}]
    likes = facts.favourite_group or "gifts and homeware"
    return [*chat, {"role": "user", "content": f"E-mail: {brief.rstrip('.')}. The customer likes {likes}. {ask}"}]


def _one_line(text: str) -> str:
    """The reply's first line, without a "Subject:"-style label, quotes, or a second sentence."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    line = re.sub(r"^(?:subject line|subject|preheader|preview)\s*:\s*", "", line, flags=re.IGNORECASE)
    line = re.split(r"(?<=[.!?])\s", line, maxsplit=1)[0]
    return line.strip('"“”\'* ').rstrip(".")


def _two_sentences(text: str) -> str:
    """At most the first two sentences of the reply, on one line."""
    sentences = re.split(r"(?<=[.!?])\s+", " ".join(text.split()))
    return " ".join(sentences[:2]).strip()


def _parse(body: Any) -> Draft:
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
    parts = ("subject", "preheader", "intro")
    if not isinstance(data, dict) or not all(isinstance(data.get(part), str) for part in parts):
        raise CopywriterError("bad_response", "expected {subject: str, preheader: str, intro: str}")
    return Draft(*(data[part].strip() for part in parts))


class Copywriter:
    """Writes the copy for one customer; one HTTP client reused for the whole run."""

    def __init__(self, settings: LlmSettings, *, shop: str, brief: str, limits: dict[str, int], language: str = "en") -> None:
        self.settings = settings
        self.shop = shop
        self.brief = brief
        self.limits = limits
        self.language = language
        headers = {"Authorization": f"Bearer {settings.api_key}"} if settings.api_key else {}
        self._client = (
            None if settings.backend == EMBEDDED else httpx.Client(timeout=settings.timeout_s, headers=headers)
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def write(self, facts: CustomerFacts, style: Draft) -> Draft:
        if self.settings.backend == EMBEDDED:
            return self._write_embedded(facts)
        return self._write_http(facts, style)

    def prepare(self, customers: Iterable[CustomerFacts]) -> None:
        """Draft these customers' copy with the embedded model all at once (its prompts batched), so
        that `write` finds it remembered; nothing for an HTTP model, nor when the model is missing
        (`write` says so for each message). Without customers the model is not even loaded."""
        if self.settings.backend != EMBEDDED:
            return
        requests = [request for facts in customers for request in self._embedded_requests(facts)]
        if not requests:
            return
        from marketflow.copy.embedded import EmbeddedModelMissing, embedded_model

        try:
            model = embedded_model()
        except EmbeddedModelMissing:
            return
        model.chat_many(requests)

    def _embedded_requests(self, facts: CustomerFacts) -> list[ChatRequest]:
        """The small model's three prompts for this customer: subject, preheader, intro."""
        from marketflow.copy.embedded import ChatRequest

        return [
            ChatRequest(_field_prompt(facts, self.brief, self.shop, self.language, part), tokens, start)
            for part, (_, _, start, tokens) in _SMALL_MODEL_PARTS.items()
        ]

    def _write_embedded(self, facts: CustomerFacts) -> Draft:
        from marketflow.copy.embedded import EmbeddedModelMissing, embedded_model

        try:
            model = embedded_model()
        except EmbeddedModelMissing as exc:
            raise CopywriterError("model_missing", str(exc)) from exc
        subject, preheader, intro = model.chat_many(self._embedded_requests(facts))
        return Draft(_one_line(subject), _one_line(preheader), _two_sentences(intro))

    def _write_http(self, facts: CustomerFacts, style: Draft) -> Draft:
        payload = {
            "model": self.settings.model,
            "temperature": self.settings.temperature,
            "messages": _prompt(facts, self.brief, self.shop, style, self.limits, self.language),
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
