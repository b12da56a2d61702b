"""`charm-build preview`: one self-contained HTML page, checked in headless Debian Chromium."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from charm_apps.build import app
from charm_builder.browse import dialogue_view, render_page
from charm_builder.store import Workspace
from schemas import CandidateSet, JudgeScore
from tests.annotation.helpers import CHROMIUM, CHROMIUM_ARGS
from tests.charm_builder.browse.helpers import HOSTILE, BrowseData
from tests.helpers import PAPER_MODELS, REPO

runner = CliRunner()
OUTPUT = REPO / "test-output"  # gitignored


def _preview(data: BrowseData, out: Path, *args: str):
    return runner.invoke(app, ["preview", "--workspace", str(data.root), "--out", str(out), *args])


def test_preview_writes_one_escaped_page_without_external_references(browse_data: BrowseData, tmp_path: Path) -> None:
    out = tmp_path / "site" / "preview.html"
    result = _preview(browse_data, out)
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert HOSTILE not in page and "&lt;script&gt;window.__pwned=2&lt;/script&gt; &amp; &quot;quotes&quot;" in page
    assert page.count("<script>") == 1  # our own inline script only
    for ref in ("http://", "https://", "src=", "<link", "@import", "url("):
        assert ref not in page.replace("&lt;img src=x", ""), ref
    assert not any(m in page for m in PAPER_MODELS)
    revealed = tmp_path / "revealed.html"
    assert _preview(browse_data, revealed, "--reveal", "--language", "en").exit_code == 0
    text = revealed.read_text(encoding="utf-8")
    assert all(m in text for m in PAPER_MODELS) and "(zh 1)" not in text
    assert not list(out.parent.glob(".*.tmp"))


def test_preview_bad_input_writes_nothing(browse_data: BrowseData, tmp_path: Path) -> None:
    out = tmp_path / "nothing.html"
    result = _preview(browse_data, out, "--character", "Nobody")
    assert result.exit_code == 2 and "no character named 'Nobody'" in result.output
    assert not out.exists()
    assert _preview(browse_data, tmp_path).exit_code == 2  # --out is a folder


def test_judge_scores_become_columns(browse_data: BrowseData) -> None:
    with Workspace.open(browse_data.root) as ws:
        plain_page = render_page([dialogue_view(ws, browse_data.en)])
        cset = next(iter(ws.iter(CandidateSet, dialogue_id=browse_data.en.id)))
        for i, c in enumerate(cset.candidates):  # what `charm-build judge` stores; one answer did not parse
            ws.upsert(
                JudgeScore(
                    candidate_set_id=cset.id,
                    label=c.label,
                    judge="judge-a",
                    prompt_version="v1",
                    score=None if i == 5 else 4.0 + i / 2,
                    raw="Score: ?",
                )
            )
        page = render_page([dialogue_view(ws, browse_data.en)])
    assert '<th class="num score">judge-a</th>' in page
    assert page.count('<td class="num score">') == 6 and '<td class="num score">5.5</td>' in page
    assert '<td class="num score">6</td>' in page and '<td class="num score">–</td>' in page  # F did not parse
    assert "judge-a" not in plain_page


@pytest.mark.browser
def test_preview_page_in_chromium(browse_data: BrowseData, tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip("Debian chromium is not installed (apt-get install -y chromium)")
    out = tmp_path / "preview.html"
    assert _preview(browse_data, out).exit_code == 0
    requests: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("request", lambda r: requests.append(r.url))
        page.set_default_timeout(20_000)
        try:
            page.goto(out.as_uri())
            page.wait_for_load_state("load")
            en = page.locator(f"section#{browse_data.en.id}")
            # the first dialogue in the list is open; the en one is chosen from the list
            page.click(f"nav a[data-id={browse_data.en.id}]")
            assert en.is_visible() and not page.locator(f"section#{browse_data.zh.id}").is_visible()
            for text in (
                "Flower-Fruit Mountain",
                "A curious student who loves myths",
                "Seventy-two, little one!",
                "turn 2: cleaned speaker_prefix",
                "ann-4",
            ):
                assert en.get_by_text(text).first.is_visible(), text
            assert not en.get_by_text("master of 72").is_visible()  # profile collapsed
            rows = en.locator("table.cands tbody tr")
            assert rows.count() == 6
            assert rows.nth(1).locator("td.text").inner_text() == HOSTILE  # shown as text, never run
            assert page.evaluate("window.__pwned") is None
            assert rows.nth(0).get_attribute("class") == "top-best"
            assert rows.nth(5).get_attribute("class") == "top-worst"
            assert [rows.nth(i).locator("td.num").first.inner_text() for i in range(6)] == [
                "2",
                "0",
                "0",
                "0",
                "1",
                "0",
            ]
            OUTPUT.mkdir(exist_ok=True)
            page.screenshot(path=str(OUTPUT / "preview.png"), full_page=True)
            # filter: language zh leaves one dialogue
            page.select_option("#lang", "zh")
            assert page.locator("#shown").inner_text() == "1"
            page.fill("#q", "nothing matches this")
            assert page.locator("#shown").inner_text() == "0"
        finally:
            browser.close()
    external = [u for u in requests if not u.startswith(("file:", "data:", "about:"))]
    assert external == [] and requests  # the page loaded, and nothing from anywhere else
    print(f"screenshot: {OUTPUT / 'preview.png'}")
