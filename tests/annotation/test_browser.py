"""Drive the real Argilla web UI in headless Debian Chromium: log in, annotate one record, pull it."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from annotation.server.embedded import EmbeddedArgilla
from annotation.sync import create_users, load_roster, pull_annotations, push_candidate_sets
from schemas import Annotation

from .helpers import CHROMIUM, CHROMIUM_ARGS, make_store, open_dataset_in_ui

pytestmark = [pytest.mark.server, pytest.mark.browser]

QUESTION_RE = re.compile(r"do you know\? \((\d+)\)")


def test_annotator_submits_best_and_worst_in_the_web_ui(argilla_server: EmbeddedArgilla, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip("Debian chromium is not installed (apt-get install -y chromium)")

    client = argilla_server.client()
    store, sets = make_store(tmp_path / "ws", n_sets=3)
    roster = tmp_path / "roster.txt"
    roster.write_text("ui-annotator\n")
    passwords = tmp_path / "ws" / "argilla" / "secrets" / "annotators.json"
    create_users(client, "ui-team", load_roster(roster), passwords)
    push_candidate_sets(client, store, dataset="ui-prefs", workspace="ui-team", min_submitted=1)
    password = json.loads(passwords.read_text())["ui-annotator"]

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.set_default_timeout(60_000)
        try:
            form = open_dataset_in_ui(page, argilla_server.url, "ui-annotator", password, "ui-prefs")
            # a pending record: the conversation and the six candidates are shown
            page.get_by_text("1 of 3").wait_for()
            field = page.frame_locator("iframe").first  # the `compare` custom field
            first = field.get_by_text(QUESTION_RE).first
            first.wait_for()
            first_question = QUESTION_RE.search(first.inner_text())
            assert first_question is not None
            assert field.locator(".cc-card").count() == 6

            page.click("label[for=best_B]")
            page.click("label[for=worst_E]")
            page.screenshot(path=str(tmp_path / "ui-before-submit.png"), full_page=False)
            form.get_by_role("button", name=re.compile("Submit")).click()

            # the next pending record replaces it
            page.wait_for_function(
                "t => { const d = document.querySelector('iframe')?.contentDocument;"
                " return d && d.body && !d.body.innerText.includes(t) && /do you know\\? \\(\\d+\\)/.test(d.body.innerText); }",
                arg=first_question.group(0),
            )
            page.get_by_text("2 of 3").wait_for()  # Argilla moves to the next record of the loaded page
            page.wait_for_function("() => /33[.,]33%/.test(document.body.innerText)")  # 1 of 3 submitted
            page.screenshot(path=str(tmp_path / "ui-next-record.png"), full_page=False)
        finally:
            browser.close()

    # pull finds exactly that response, mapped back to the candidate set's own labels
    shown_cset = next(s for s in sets if s.context[-1].text.endswith(first_question.group(0)))
    result = pull_annotations(client, store, dataset="ui-prefs", workspace="ui-team")
    assert result.imported == 1 and result.rejected == []
    (ann,) = list(store.iter(Annotation))
    assert (ann.annotator, ann.candidate_set_id) == ("ui-annotator", shown_cset.id)
    record = next(r for r in client.datasets(name="ui-prefs", workspace="ui-team").records() if r.id == shown_cset.id)
    assert ann.best == record.metadata["source_B"] and ann.worst == record.metadata["source_E"]
    print(f"screenshots: {tmp_path / 'ui-before-submit.png'} {tmp_path / 'ui-next-record.png'}")
