"""Look at the data: `show` (rich, in the terminal) and `preview` (one self-contained HTML page).

Owns: dialogue views and their rendering; read-only over the workspace.
Imports: ``schemas``, ``charm_builder.store``, ``errors``; ``browse.cli`` also ``charm_kernel.cli``.
"""

from charm_builder.browse.html import render_page
from charm_builder.browse.view import DialogueView, dialogue_view, select_dialogues

__all__ = ["DialogueView", "dialogue_view", "render_page", "select_dialogues"]
