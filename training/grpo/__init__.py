"""GRPO on the Charm ``grpo`` prompts, rewarded by an Act-Adaptive-Margin reward model.

Owns: the GRPO trainer, reward adapter and plots. Imports: ``training.rm``'s public API
(``load_reward_model``, ``score``), training's launch/distributed helpers and charm_builder's helpers
(``errors``, ``console``, ``offline_models``, ``llm.progress``, ``export.locate``).
"""
