"""Evaluation of role-play policies: Charm-DialogueQuality with LLM judges, run comparison."""
