"""Reuse the training fixtures (tiny random Llama with the real tokenizer, tiny exports)."""

from tests.export.conftest import built  # noqa: F401
from tests.training.conftest import pref_export, role_reward_export, tiny_model_dir  # noqa: F401
