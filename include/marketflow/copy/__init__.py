"""Copy: catalogue facts, sandboxed Jinja2 templates with A/B variants, LLM copy under guardrails."""
