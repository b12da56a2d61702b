"""Act-Adaptive Margin reward models: model, data, trainer, evaluation.

Public API used by other stages (e.g. GRPO): :func:`load_reward_model` and :func:`score` /
``ActAdaptiveRewardModel.score``. Training: :class:`RMTrainConfig` + :func:`train_reward_model`.
Imports: ``training.common`` (distributed, precision, stats), ``charm_builder.export.card``, importers'
readers, llm's progress bar.
"""

from training.rm.model import ActAdaptiveRewardModel, RewardModelError, load_reward_model, score

__all__ = ["ActAdaptiveRewardModel", "RewardModelError", "load_reward_model", "score"]
