"""GRPO on the Charm ``grpo`` prompts, rewarded by an Act-Adaptive-Margin reward model."""
