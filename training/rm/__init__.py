"""Act-Adaptive Margin reward models: model, data, trainer, evaluation."""

from training.rm.model import ActAdaptiveRewardModel, RewardModelError, load_reward_model, score

__all__ = ["ActAdaptiveRewardModel", "RewardModelError", "load_reward_model", "score"]
