"""Turn hygiene: strip what small models add, and detect degenerate turns.

``clean_turn`` returns the cleaned text and a problem (``None`` when the turn is usable).
Problems are retried by the loop and recorded in provenance; nothing is silently kept.

Degenerate text (``repetition_share``): the text is cut into units, a Latin word (lower-cased)
or a single Chinese character, and we count the 4-grams of consecutive units that already
occurred earlier in the same text. ``repeated 4-grams / all 4-grams`` over 0.3
(``DEGENERATE_SHARE``) marks the text ``degenerate``; texts with fewer than 8 4-grams are never
judged. A sentence said six times scores about 0.8, ordinary prose 0 to 0.1.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

_CJK = re.compile(r"[\u3400-\u9fff]")
_LATIN_WORD = re.compile(r"[A-Za-z]+")
_UNIT = re.compile(r"[\u3400-\u9fff]|[^\W\u3400-\u9fff]+(?:'[^\W\u3400-\u9fff]+)*")
_END_VARIANTS = re.compile(r"\[\s*END\s*\]|<\s*/?\s*END\s*>|【\s*END\s*】", re.IGNORECASE)


@dataclass(frozen=True)
class Cleaned:
    text: str
    problem: str | None = None
    ended: bool = False
    fixes: tuple[str, ...] = ()


@functools.lru_cache(maxsize=4096)
def _prefix_patterns(names: tuple[str, ...]) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """'Name:' at the start of a text, and at the start of any of its lines; compiled once per set of
    names (a run at the paper's size has more name sets than ``re``'s own cache keeps)."""
    alts = "|".join(re.escape(n) for n in sorted({n for n in names if n}, key=len, reverse=True))
    body = rf"(?:\*\*)?(?:{alts})(?:\*\*)?\s*[:：]\s*"
    return re.compile(rf"^\s*{body}", re.IGNORECASE), re.compile(rf"(?:^|\n)\s*{body}", re.IGNORECASE)


def language_ok(text: str, language: str) -> bool:
    """zh turns: at least as many Chinese characters as Latin words; en turns: mostly Latin words.

    A Chinese character carries about as much as an English word, so we compare characters to words.
    """
    cjk, words = len(_CJK.findall(text)), len(_LATIN_WORD.findall(text))
    if cjk + words == 0:
        return False
    share = cjk / (cjk + words)
    return share >= 0.5 if language == "zh" else share <= 0.2


DEGENERATE_SHARE = 0.3
DEGENERATE_NGRAM = 4
_MIN_NGRAMS = 8


def repetition_share(text: str, n: int = DEGENERATE_NGRAM) -> float:
    """Share of the text's ``n``-grams of units (Latin words; Chinese characters one by one) that
    repeat an earlier ``n``-gram of the same text; 0.0 for texts too short to judge."""
    units = [u.lower() for u in _UNIT.findall(text)]
    grams = [tuple(units[i : i + n]) for i in range(len(units) - n + 1)]
    if len(grams) < _MIN_NGRAMS:
        return 0.0
    return 1.0 - len(set(grams)) / len(grams)


def is_degenerate(text: str) -> bool:
    """True when ``repetition_share(text)`` exceeds ``DEGENERATE_SHARE`` (the text loops)."""
    return repetition_share(text) > DEGENERATE_SHARE


def _similar(a: str, b: str) -> bool:
    a, b = " ".join(a.lower().split()), " ".join(b.lower().split())
    if not a or not b:
        return False
    if a == b:
        return True
    shorter, longer = sorted((a, b), key=len)
    return len(shorter) > 20 and shorter in longer


def echoes(text: str, prompt: str, language: str) -> bool:
    """True when ``text`` copies its instructions: a run of 50 characters (20 in Chinese) from
    ``prompt``, or a turn that is almost all (80%, at least 24 characters) a piece of it. Quoting
    a short catchphrase from the profile stays fine."""
    t, p = " ".join(text.split()).lower(), " ".join(prompt.split()).lower()
    if len(t) < 24 or not p:
        return False
    return _shares_run(t, p, min(20 if language == "zh" else 50, math.ceil(0.8 * len(t))))


def _shares_run(text: str, other: str, n: int) -> bool:
    """Some ``n``-character piece of ``text`` occurs in ``other``.

    Any such piece, starting at ``i``, contains the ``m``-character window that starts at the first
    multiple of ``step`` at or after ``i`` (``m = n - step + 1``), so only those windows are searched
    (a C substring search each, ``step`` times fewer than one per offset) and a hit is confirmed on
    the ``n``-character pieces around it: the same answer as searching every offset."""
    last = len(text) - n
    if last < 0:
        return False
    step = max(1, n // 2)
    m = n - step + 1
    for j in range(0, last + step, step):
        if text[j : j + m] in other and any(
            text[i : i + n] in other for i in range(max(0, j - step + 1), min(j, last) + 1)
        ):
            return True
    return False


def clean_turn(
    raw: str,
    *,
    own_names: list[str],
    other_names: list[str],
    language: str,
    history: list[str],
    max_chars: int = 1200,
    prompt: str = "",
) -> Cleaned:
    """Clean one generated turn. ``own_names``/``other_names``: display names of this/other side;
    ``prompt``: the speaker's system prompt (a turn that echoes it is degenerate)."""
    fixes: list[str] = []
    text = raw.strip()
    ended = bool(_END_VARIANTS.search(text))
    if ended:
        text = _END_VARIANTS.sub("", text).strip()
        fixes.append("end_marker")
    own = _prefix_patterns((*own_names, "User", "用户", "Assistant", "助手"))[0]
    if own.match(text):
        text = own.sub("", text, count=1).strip()
        fixes.append("name_prefix")
    # the speaker went on to write the other side's line: cut there
    other_anywhere = _prefix_patterns(tuple(other_names))[1]
    if other_names and (m := other_anywhere.search(text)):
        if m.start() == 0:
            return Cleaned(text, "speaks_as_other_side", ended, tuple(fixes))
        text = text[: m.start()].strip()
        fixes.append("cut_other_side")
    if len(text) > max_chars:
        text = text[:max_chars].rsplit(" ", 1)[0].strip()
        fixes.append("truncated")
    if not text:
        return Cleaned("", None if ended else "empty", ended, tuple(fixes))
    if is_degenerate(text):
        return Cleaned(text, "degenerate", ended, tuple(fixes))
    if any(_similar(text, h) for h in history[-6:]):
        return Cleaned(text, "repeated", ended, tuple(fixes))
    if prompt and echoes(text, prompt, language):
        return Cleaned(text, "echoes_prompt", ended, tuple(fixes))
    if not language_ok(text, language):
        return Cleaned(text, "off_language", ended, tuple(fixes))
    return Cleaned(text, None, ended, tuple(fixes))
