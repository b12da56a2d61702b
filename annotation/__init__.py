"""The annotation stage: Argilla dataset settings, users, push/pull of candidate sets and annotations,
QA metrics, and the embedded Argilla server (``annotation.server``).
Imports: ``charm_kernel``, ``schemas``, ``charm_builder.store`` and the public APIs of ``charm_builder.llm`` /
``judge`` / ``export``; never ``training`` (``active``'s reward-model strategies take a scorer from the app).
"""
