"""The copy of one message that a template or a model writes: everything else comes from the catalogue."""

from __future__ import annotations

from dataclasses import dataclass

#: Languages a campaign can be written in (ISO 639-1): the ones the guardrails can recognise.
LANGUAGES = {
    "en": "English",
    "de": "German",
    "fr": "French",
    "es": "Spanish",
    "it": "Italian",
    "nl": "Dutch",
    "pt": "Portuguese",
    "da": "Danish",
    "sv": "Swedish",
    "no": "Norwegian",
    "fi": "Finnish",
    "pl": "Polish",
}


@dataclass(frozen=True)
class Draft:
    """Subject line, preheader (the inbox preview line after the subject) and intro paragraph."""

    subject: str
    preheader: str
    intro: str

    def tidy(self) -> Draft:
        """Subject and preheader on one line each (a template's line breaks are layout, not copy)."""
        return Draft(" ".join(self.subject.split()), " ".join(self.preheader.split()), self.intro.strip())
