"""`charm-build export` / `translate`: the three Charm subsets as Hugging Face datasets.

Owns: selection, splits, margins, cards and writing/checking export folders (and ``dq_annotations``).
Imports: ``schemas``, ``charm_builder.store`` (read-only SQL), ``charm_builder.llm`` (translate), ``errors``.
Public API (``export.cli`` is a thin layer over it): ``ExportOptions``, ``build_export``, ``export_workspace``,
``check_export``, ``add_dq_annotation``, ``ensure_dq_table``, ``Translator``, ``PromptTranslator``, ``run_translate``.
"""

from charm_builder.export.check import CheckResult, check_export
from charm_builder.export.dialogue_quality import add_dq_annotation, load_dq_annotations
from charm_builder.export.pipeline import (
    SUBSET_CHOICES,
    SUBSETS,
    ExportOptions,
    ExportSummary,
    build_export,
    export_workspace,
)
from charm_builder.export.translate import (
    PromptTranslator,
    TranslateReport,
    Translator,
    run_translate,
    translate_dialogue_quality,
)
from charm_builder.store.dq_annotations import ensure_table as ensure_dq_table

__all__ = [
    "SUBSETS",
    "SUBSET_CHOICES",
    "CheckResult",
    "ExportOptions",
    "ExportSummary",
    "PromptTranslator",
    "TranslateReport",
    "Translator",
    "add_dq_annotation",
    "build_export",
    "check_export",
    "ensure_dq_table",
    "export_workspace",
    "load_dq_annotations",
    "run_translate",
    "translate_dialogue_quality",
]
