"""Model rosters: YAML files naming each model with provider, endpoint, key env var, params, prices.

Two rosters ship as package data (``charm_builder/llm/rosters/``): ``offline`` (the default,
local models only) and ``paper`` (the six candidate LLMs of the AAM paper). ``load_roster``
takes one of those names or a path to a YAML file of the same shape::

    name: my-roster
    languages: [zh, en]             # optional: what the models speak (entries may override)
    simulate:                       # optional: what `charm-build simulate` does unless told otherwise
      refine_model: gpt-4o          # an entry that refines each dialogue (--refine; default: none)
      steer_user: false             # steer the user simulator to the target dimension (--steer-user)
    models:
      gpt-4o:
        provider: openai            # openai | azure-openai | anthropic | local
        model: gpt-4o               # the provider's model id (local: offline name, HF folder or .gguf)
        base_url: https://api.openai.com/v1
        api_key_env: OPENAI_API_KEY
        params: {temperature: 0.7, max_tokens: 512}
        price_input: 2.5            # USD per 1M input tokens
        price_output: 10.0          # USD per 1M output tokens
        concurrency: 32
        rpm: 5000                   # requests per minute (optional)
        tpm: 800000                 # tokens per minute (optional)
      gpt-4o-azure:
        provider: azure-openai      # no base_url: Azure's URL layout is built from these three
        model: gpt-4o
        azure_endpoint: https://my-resource.openai.azure.com
        deployment: gpt-4o-prod     # optional, default: the model id
        api_version: "2024-10-21"
        api_key_env: AZURE_OPENAI_API_KEY
        # sampling extras in params: frequency_penalty / presence_penalty (sent to OpenAI-compatible
        # APIs), repetition_penalty / no_repeat_ngram_size (local models)
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from charm_builder.llm.errors import MissingAPIKeyError, RosterError, UnknownModelError
from charm_builder.llm.precision import Precision
from charm_builder.llm.precision import resolve as resolve_precision
from charm_builder.llm.types import ChatParams

Provider = Literal["openai", "azure-openai", "anthropic", "local"]
DEFAULT_ROSTER = "offline"
BUILTIN_ROSTERS = ("offline", "paper")

_DEFAULT_BASE_URLS = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com"}


def list_price(input_tokens: int, output_tokens: int, price_input: float, price_output: float) -> float:
    """US dollars for a call at list prices given per million input / output tokens."""
    return (input_tokens * price_input + output_tokens * price_output) / 1_000_000


class ModelSpec(BaseModel):
    """One model of a roster. ``name`` is the roster key; ``model`` the provider's model id."""

    model_config = ConfigDict(extra="forbid")

    name: str
    provider: Provider
    model: str
    description: str = ""
    base_url: str | None = None
    api_key_env: str | None = None
    api_key_file: str | None = None
    system_prompt: str | None = None
    """An instruction of this entry's own, appended to the request's system message (so the
    candidates of one context share their prompt prefix: provider prompt caches and the local
    batcher prefill it once), or sent as the system message when the request has none."""
    system_prompt_position: Literal["system", "before_reply"] = "system"
    """``before_reply``: send ``system_prompt`` as a system turn after the dialogue instead, so the
    whole context is the shared prefix. Only for chat templates that accept a system turn there
    (SmolLM2 and other ChatML templates, Llama 3, OpenAI; Anthropic merges it into ``system``)."""
    params: ChatParams = Field(default_factory=ChatParams)
    precision: Precision = "auto"
    """Local models: ``fp32``, ``bf16``, or ``auto`` (bfloat16 where the CPU computes it natively,
    else float32; see ``charm_builder.llm.precision``)."""
    price_input: float = Field(default=0.0, ge=0.0)
    price_output: float = Field(default=0.0, ge=0.0)
    batch_discount: float = Field(default=0.5, gt=0.0, le=1.0)
    concurrency: int = Field(default=8, ge=1)
    rpm: int | None = Field(default=None, ge=1)
    tpm: int | None = Field(default=None, ge=1)
    timeout: float = Field(default=120.0, gt=0.0)
    max_retries: int = Field(default=6, ge=0)
    gguf_file: str | None = None
    azure_endpoint: str | None = None  # azure-openai: https://RESOURCE.openai.azure.com
    deployment: str | None = None  # azure-openai: the deployment name (default: ``model``)
    api_version: str | None = None  # azure-openai: e.g. "2024-10-21"
    languages: list[str] | None = None
    """Languages the model writes well (e.g. ``[en]``); None: the roster's ``languages``, else any."""

    @model_validator(mode="after")
    def _defaults(self) -> ModelSpec:
        azure = {"azure_endpoint": self.azure_endpoint, "deployment": self.deployment, "api_version": self.api_version}
        if self.provider == "azure-openai":
            missing = [k for k in ("azure_endpoint", "api_version") if not azure[k]]
            if missing:
                raise ValueError(f"provider azure-openai needs {' and '.join(missing)}")
            self.deployment = self.deployment or self.model
            derived = f"{str(self.azure_endpoint).rstrip('/')}/openai/deployments/{self.deployment}"
            if self.base_url is not None and self.base_url.rstrip("/") != derived:
                raise ValueError("provider azure-openai takes azure_endpoint (and deployment), not base_url")
            self.base_url = derived
        elif any(azure.values()):
            given = ", ".join(k for k, v in azure.items() if v)
            raise ValueError(f"{given} only apply to provider azure-openai")
        if self.base_url is None and self.provider in _DEFAULT_BASE_URLS:
            self.base_url = _DEFAULT_BASE_URLS[self.provider]
        if self.base_url:
            self.base_url = self.base_url.rstrip("/")
        return self

    @property
    def cache_model_id(self) -> str:
        """The model id in cache keys: a local model's answers depend on its precision too."""
        if self.provider == "local" and (precision := resolve_precision(self.precision)) != "fp32":
            return f"{self.model}@{precision}"
        return self.model

    @property
    def needs_key(self) -> bool:
        """Remote providers need a key unless the entry names none (e.g. a local vLLM)."""
        return self.provider != "local" and bool(self.api_key_env or self.api_key_file)

    def cost(self, input_tokens: int, output_tokens: int, *, batch: bool = False) -> float:
        """US dollars for a call at this entry's prices."""
        usd = list_price(input_tokens, output_tokens, self.price_input, self.price_output)
        return usd * (self.batch_discount if batch else 1.0)

    def resolve_api_key(self, env: Mapping[str, str] | None = None) -> str | None:
        """The key from ``api_key_env`` (else ``api_key_file``, which must be mode 0600).

        Raises ``MissingAPIKeyError`` naming the env var when the entry needs a key and none is
        set. The error never contains the key.
        """
        if not self.needs_key:
            return None
        env = os.environ if env is None else env
        if self.api_key_env and env.get(self.api_key_env, "").strip():
            return env[self.api_key_env].strip()
        if self.api_key_file:
            return _read_key_file(self.name, Path(self.api_key_file).expanduser())
        raise MissingAPIKeyError(
            f"model {self.name!r} needs an API key: set the environment variable {self.api_key_env}"
        )


def _read_key_file(model: str, path: Path) -> str:
    try:
        mode = path.stat().st_mode
    except OSError:
        raise MissingAPIKeyError(f"model {model!r}: API key file {path} does not exist") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise MissingAPIKeyError(f"model {model!r}: API key file {path} is readable by others; run chmod 600 {path}")
    key = path.read_text(encoding="utf-8").strip()
    if not key:
        raise MissingAPIKeyError(f"model {model!r}: API key file {path} is empty")
    return key


class SimulateDefaults(BaseModel):
    """What ``charm-build simulate`` does with a roster unless its options say otherwise."""

    model_config = ConfigDict(extra="forbid")

    refine_model: str | None = None
    """The entry that reviews each finished dialogue and rewrites turns that break character
    (``--refine``); None: no refine pass."""
    steer_user: bool = False
    """Steer the user simulator toward each dialogue's target dimension (``--steer-user``); beyond
    the paper, whose user and character talk freely."""


class Roster(BaseModel):
    """A named set of models."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    source: str = ""
    languages: list[str] | None = None
    """Languages every model of the roster writes well, unless an entry says otherwise; None: any."""
    models: dict[str, ModelSpec]
    simulate: SimulateDefaults = Field(default_factory=SimulateDefaults)

    @field_validator("simulate")
    @classmethod
    def _refine_model_is_an_entry(cls, value: SimulateDefaults, info: ValidationInfo) -> SimulateDefaults:
        models = info.data.get("models")
        if value.refine_model and models is not None and value.refine_model not in models:
            raise ValueError(f"refine_model {value.refine_model!r} is not in models (known: {', '.join(models)})")
        return value

    def languages_of(self, names: list[str]) -> list[str] | None:
        """Languages all the named entries write well (entry ``languages``, else the roster's), in
        roster order of mention; None when none of them declares a restriction."""
        declared = [self.get(n).languages or self.languages for n in names]
        known = [set(d) for d in declared if d is not None]
        if not known:
            return None
        order = [lang for d in declared if d for lang in d]
        common = set.intersection(*known)
        return sorted(common, key=order.index)

    def get(self, name: str) -> ModelSpec:
        """The entry called ``name``; ``UnknownModelError`` listing the known ones otherwise."""
        try:
            return self.models[name]
        except KeyError:
            raise UnknownModelError(
                f"unknown model {name!r} in roster {self.name!r} ({self.source}); known: {', '.join(self.models)}"
            ) from None

    @property
    def names(self) -> list[str]:
        """Model names in roster order."""
        return list(self.models)


def load_roster(name_or_path: str | Path = DEFAULT_ROSTER) -> Roster:
    """Load a built-in roster (``"offline"``, ``"paper"``) or a roster YAML file.

    Raises ``RosterError`` with the file and the offending field on any problem.
    """
    text, source = _roster_text(name_or_path)
    try:
        data = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError) as exc:  # ValueError: an integer past Python's 4,300-digit limit
        raise RosterError(f"{source}: not valid YAML: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise RosterError(f"{source}: not valid YAML: nested too deeply") from None
    if not isinstance(data, dict) or not isinstance(data.get("models"), dict) or not data["models"]:
        raise RosterError(f"{source}: expected a mapping with a non-empty 'models' mapping")
    models = {}
    for key, entry in data["models"].items():
        if not isinstance(entry, dict):
            raise RosterError(f"{source}: models.{key} must be a mapping")
        models[str(key)] = {"name": str(key), **entry}
    data = {**data, "models": models, "source": source}
    data.setdefault("name", Path(source).stem)
    try:
        return Roster.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise RosterError(
            f"{source}: {where}: {err['msg']} (and {len(exc.errors()) - 1} more)"
            if len(exc.errors()) > 1
            else f"{source}: {where}: {err['msg']}"
        ) from None


def _roster_text(name_or_path: str | Path) -> tuple[str, str]:
    if isinstance(name_or_path, str) and name_or_path in BUILTIN_ROSTERS:
        res = resources.files("charm_builder.llm").joinpath("rosters", f"{name_or_path}.yaml")
        return res.read_text(encoding="utf-8"), f"builtin:{name_or_path}"
    path = Path(name_or_path)
    if not path.is_file():
        raise RosterError(
            f"roster {str(name_or_path)!r} is neither a built-in ({', '.join(BUILTIN_ROSTERS)}) nor a file"
        )
    try:
        return path.read_text(encoding="utf-8-sig"), str(path)
    except UnicodeDecodeError as exc:
        raise RosterError(f"{path}: byte {exc.start}: not UTF-8 text") from None
