"""Help texts read as paragraphs: a docstring's source line breaks do not survive into ``--help``."""

import pytest

from charm_kernel.help_text import reflow
from tests.helpers import run_cli


def test_reflow_joins_prose_and_keeps_examples_and_lists():
    doc = """Rank the candidate sets nobody has
    annotated yet.

    Then push them. Synthetic annotations
    do not count.

    Examples:
      charm-build annotate next --k 5
      charm-build annotate next --push

    Strategies:
    - judge-disagreement: the judge's
      scores
    - random
    """
    assert reflow(doc) == (
        "Rank the candidate sets nobody has annotated yet.\n\n"
        "Then push them. Synthetic annotations do not count.\n\n"
        "Examples:\n  charm-build annotate next --k 5\n  charm-build annotate next --push\n\n"
        "Strategies:\n- judge-disagreement: the judge's\n  scores\n- random"
    )
    assert reflow(reflow(doc)) == reflow(doc)
    assert reflow("\b\nkept\nas is") == "\b\nkept\nas is"


def _command_rows(help_text: str) -> list[str]:
    """The lines of the Commands panel of a rich ``--help`` (between its top and bottom border)."""
    lines = help_text.splitlines()
    start = next(i for i, line in enumerate(lines) if "Commands" in line and line.startswith("╭"))
    end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("╰"))
    return lines[start + 1 : end]


@pytest.mark.parametrize(
    ("module", "args"),
    [("charm_builder", ["--help"]), ("charm_builder", ["annotate", "--help"]), ("charm_apps.train", ["--help"])],
)
def test_command_list_has_one_line_per_command_when_the_terminal_is_wide(module, args):
    # wide enough for every one-paragraph summary: a row whose first column is blank is a line that
    # broke where the docstring's source line did
    proc = run_cli(*args, module=module, env={"COLUMNS": "1000", "TERMINAL_WIDTH": "1000"})
    assert proc.returncode == 0, proc.stderr
    rows = _command_rows(proc.stdout)
    assert len(rows) >= 4
    broken = [row.strip() for row in rows if row.startswith("│ ") and row[2:3] == " "]
    assert not broken, broken


def test_top_level_quick_start_names_the_demo():
    proc = run_cli("--help")
    assert "Quick start (offline): charm-build demo" in " ".join(proc.stdout.split())
