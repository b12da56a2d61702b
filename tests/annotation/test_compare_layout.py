"""The preference record page: six candidates side by side under the last turns, checked in Chromium."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from annotation.datasets import (
    COMPARE_FIELD,
    RecordContext,
    compare_template,
    dialogue_quality_settings,
    preference_record,
)
from annotation.server.embedded import EmbeddedArgilla
from annotation.sync import (
    AnnotationError,
    create_users,
    ensure_dataset,
    load_roster,
    pull_annotations,
    push_candidate_sets,
)
from charm_builder.store.workspace import Workspace
from schemas import Annotation, CandidateSet, Character, Dialogue, Localized, Message
from tests.helpers import PAPER_MODELS, REPO, paper_candidates

from .helpers import CHROMIUM, CHROMIUM_ARGS, open_dataset_in_ui

OUTPUT = REPO / "test-output"
#: Would end Argilla's inline <script> (and run) if values were not escaped; must show as text.
HOSTILE = '</script><img src=x onerror="parent.__pwned=1"> & so on'
PROFILE = "The Monkey King, born from a stone on Flower-Fruit Mountain, master of 72 transformations. " * 6
SENTENCE = "Ha! I once turned into a temple with my tail as the flagpole, and the god Erlang nearly fell for it. "


def make_long_store(root: Path, n_sets: int = 2) -> tuple[Workspace, list[CandidateSet]]:
    """Candidate sets the size the paper reports: 12 turns of context, replies of 40-110 words."""
    store = Workspace.create(root)
    character = Character(
        name=Localized(zh="孙悟空", en="Sun Wukong"),
        sub_category="novels",
        profile=Localized(en=PROFILE),
        system_prompt=Localized(en="You are Sun Wukong."),
    )
    store.upsert(character)
    sets = []
    for i in range(n_sets):
        turns = []
        for t in range(10):
            user = t % 2 == 0
            text = (
                f"Great Sage, tell me more about your journey west, part {t} of set {i}? " * 2 if user else SENTENCE * 2
            )
            turns.append(
                Message(
                    role="user" if user else "character",
                    speaker="Xiao Ming" if user else "Sun Wukong",
                    text=text.strip(),
                )
            )
        turns.append(Message(role="user", speaker="Xiao Ming", text=f"So how many transformations do you know? ({i})"))
        dialogue = Dialogue(
            character_id=character.id, language="en", turns=turns, target_dimension="knowledge_consistency"
        )
        store.upsert(dialogue)
        replies = [(SENTENCE * (2 + k % 4)).strip() for k in range(6)]
        replies[2] = HOSTILE
        cset = CandidateSet(
            dialogue_id=dialogue.id,
            context=turns,
            candidates=paper_candidates([f"[{i}-{k}] {reply}" for k, reply in enumerate(replies)]),
        )
        store.upsert(cset)
        sets.append(cset)
    return store, sets


def test_one_compare_field_with_escaped_values(tmp_path: Path) -> None:
    store, (cset, _) = make_long_store(tmp_path / "ws")
    store.close()
    record = preference_record(cset, RecordContext("attractiveness", "", "en", "Sun Wukong", "A <b>monkey</b>"))
    value = record.fields[COMPARE_FIELD]
    assert value["dimension"].startswith("Attractiveness") and value["profile"] == "A &lt;b&gt;monkey&lt;/b&gt;"
    assert len(value["turns"]) == 11 and value["turns"][-1]["role"] == "user"
    assert [c["label"] for c in value["candidates"]] == list("ABCDEF")
    blob = json.dumps(record.fields, ensure_ascii=False)
    assert "<" not in blob and ">" not in blob  # nothing can close Argilla's inline <script>
    hostile = next(c["text"] for c in value["candidates"] if "img" in c["text"])
    assert hostile.endswith('&lt;/script&gt;&lt;img src=x onerror="parent.__pwned=1"&gt; &amp; so on')
    # the shuffle and the hidden model mapping are unchanged: display label -> source label -> model
    for shown in value["candidates"]:
        source = record.metadata[f"source_{shown['label']}"]
        assert shown["text"].startswith(f"[0-{'ABCDEF'.index(source)}]")
        assert record.metadata[f"model_{shown['label']}"] == PAPER_MODELS["ABCDEF".index(source)]


def _inside(box: dict | None, width: int, height: int) -> bool:
    return (
        box is not None
        and box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= width
        and box["y"] + box["height"] <= height
    )


@pytest.mark.server
@pytest.mark.browser
def test_six_candidates_and_both_questions_fit_one_screen(argilla_server: EmbeddedArgilla, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip("Debian chromium is not installed (apt-get install -y chromium)")
    client = argilla_server.client()
    store, sets = make_long_store(tmp_path / "ws")
    roster = tmp_path / "roster.txt"
    roster.write_text("grid-annotator\n")
    passwords = tmp_path / "annotators.json"
    create_users(client, "grid-team", load_roster(roster), passwords)
    push_candidate_sets(client, store, dataset="grid-prefs", workspace="grid-team", min_submitted=1)
    password = json.loads(passwords.read_text())["grid-annotator"]
    settings = client.datasets(name="grid-prefs", workspace="grid-team").settings
    assert [f.name for f in settings.fields] == [COMPARE_FIELD]
    assert settings.fields[0].advanced_mode and settings.fields[0].template == compare_template()
    assert [q.name for q in settings.questions][:2] == ["best", "worst"]
    width, height = 1400, 1000
    shot = OUTPUT / "compare-layout.png"  # test-output/ is gitignored and outlives pytest's tmp dirs
    shot.parent.mkdir(exist_ok=True)

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": height})
        page.set_default_timeout(60_000)
        try:
            open_dataset_in_ui(page, argilla_server.url, "grid-annotator", password, "grid-prefs")
            field = page.frame_locator("iframe").first
            cards = field.locator(".cc-card")
            cards.nth(5).wait_for()
            page.wait_for_timeout(500)  # the iframe takes its content's height after load
            page.screenshot(path=str(shot), full_page=False)

            # all six candidates and both questions' six options are on screen, nothing scrolled
            assert cards.count() == 6
            assert page.evaluate("() => [window.scrollY, document.scrollingElement.scrollTop]") == [0, 0]
            for i in range(6):
                box = cards.nth(i).bounding_box()
                assert _inside(box, width, height), (i, box)
                for y in (box["y"] + 5, box["y"] + box["height"] - 5):  # top and bottom edge: not under the footer
                    hit = page.evaluate("([x, y]) => document.elementFromPoint(x, y).tagName", [box["x"] + 20, y])
                    assert hit == "IFRAME", (i, y, hit)
            for question in ("best", "worst"):
                for label in "ABCDEF":
                    assert _inside(page.locator(f"label[for={question}_{label}]").bounding_box(), width, height)
            # the last user turn sits right above the grid; profile and earlier turns start collapsed
            last = field.locator(".cc-turn.cc-last")
            assert "how many transformations" in last.inner_text()
            assert 0 < cards.first.bounding_box()["y"] - last.bounding_box()["y"] < 200
            assert field.locator(".cc-badge").first.inner_text().startswith("Knowledge consistency")
            assert not field.get_by_text("born from a stone").first.is_visible()
            assert field.locator(".cc-turn").count() == 11 and field.locator(".cc-turn:visible").count() == 2
            hostile = field.locator(".cc-card", has_text="onerror")
            assert hostile.inner_text().endswith('</script><img src=x onerror="parent.__pwned=1"> & so on')
            assert page.evaluate("window.__pwned") is None
            # opening the profile grows the field instead of clipping it
            before = page.locator("iframe").first.bounding_box()["height"]
            field.locator(".cc-profile summary").click()
            field.get_by_text("born from a stone").first.wait_for()
            page.wait_for_function(
                "h => document.querySelector('iframe').getBoundingClientRect().height > h + 50", arg=before
            )

            # keyboard shortcuts: from inside the field, Tab reaches the first question, digits answer, Enter submits
            shown = field.locator(".cc-turn.cc-last").inner_text()
            cards.nth(3).click()
            page.keyboard.press("Tab")
            page.keyboard.press("2")  # best = B, focus moves on to worst
            page.keyboard.press("5")  # worst = E
            page.wait_for_function(
                "() => document.querySelector('#best_B').checked && document.querySelector('#worst_E').checked"
            )
            page.keyboard.press("Enter")
            page.wait_for_function(  # the next record's field replaces this one
                "t => [...document.querySelectorAll('iframe')].some(f => { const b = f.contentDocument?.body;"
                " return b && /do you know/.test(b.innerText) && !b.innerText.includes(t); })",
                arg=shown.splitlines()[-1],
            )
        finally:
            browser.close()

    result = pull_annotations(client, store, dataset="grid-prefs", workspace="grid-team")
    assert result.imported == 1 and result.rejected == []
    (ann,) = list(store.iter(Annotation))
    number = re.search(r"\((\d+)\)", shown)
    assert number is not None
    cset = next(s for s in sets if s.context[-1].text.endswith(f"({number.group(1)})"))
    record = next(r for r in client.datasets(name="grid-prefs", workspace="grid-team").records() if r.id == cset.id)
    assert (ann.candidate_set_id, ann.best, ann.worst) == (
        cset.id,
        record.metadata["source_B"],
        record.metadata["source_E"],
    )
    # a dataset made with another layout is refused with one clear line, not a server error per record
    ensure_dataset(client, "grid-old", "grid-team", dialogue_quality_settings())
    with pytest.raises(AnnotationError, match=r"'grid-old' .* has the fields \['context', 'dimension', 'character'\]"):
        push_candidate_sets(client, store, dataset="grid-old", workspace="grid-team")
    print(f"screenshot: {shot}")
