"""Starting an embedded Argilla server, test data, and an HTTP annotator that behaves like the web UI (JWT login, queue search, submit)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from annotation.server.embedded import EmbeddedArgilla, free_port
from annotation.server.postgres import PostgresError, command_prefix, find_bindir
from annotation.sync import create_users, load_roster
from charm_builder.store.workspace import Workspace
from schemas import CandidateSet, Character, Dialogue, Localized, Message
from tests.helpers import paper_candidates


def create_annotators(client: Any, workspace: str, roster_yaml: str, tmp_path: Path) -> dict[str, str]:
    """Accounts for the roster ``roster_yaml`` (written under ``tmp_path``) in ``workspace``: password by username."""
    roster = tmp_path / "roster.yaml"
    roster.write_text(roster_yaml)
    passwords = tmp_path / "passwords.json"
    create_users(client, workspace, load_roster(roster), passwords)
    return json.loads(passwords.read_text())


def make_store(root: Path, n_sets: int = 3) -> tuple[Workspace, list[CandidateSet]]:
    """A workspace with one character, ``n_sets`` dialogues and one six-candidate set each."""
    store = Workspace.create(root)
    character = Character(
        name=Localized(zh="孙悟空", en="Sun Wukong"),
        sub_category="novels",
        source=Localized(zh="西游记", en="Journey to the West"),
        profile=Localized(zh="齐天大圣，七十二变。", en="The Monkey King, master of 72 transformations."),
        system_prompt=Localized(zh="你是孙悟空。", en="You are Sun Wukong."),
    )
    store.upsert(character)
    sets = []
    for i in range(n_sets):
        lang = "zh" if i % 2 else "en"
        turns = [
            Message(role="user", speaker="Xiao Ming", text=f"Great Sage, question number {i}?"),
            Message(role="character", speaker="Sun Wukong", text="Ha! Ask away, little one."),
            Message(role="user", speaker="Xiao Ming", text=f"How many transformations do you know? ({i})"),
        ]
        dialogue = Dialogue(
            character_id=character.id,
            language=lang,
            turns=turns,
            target_dimension="knowledge_consistency" if i % 2 == 0 else "attractiveness",
        )
        store.upsert(dialogue)
        cset = CandidateSet(
            dialogue_id=dialogue.id,
            context=turns,
            candidates=paper_candidates([f"Reply {i}-{k}: seventy-two transformations, of course!" for k in range(6)]),
        )
        store.upsert(cset)
        sets.append(cset)
    return store, sets


class UIAnnotator:
    """Logs in with username/password like the web UI and uses the same endpoints it does."""

    def __init__(self, url: str, username: str, password: str) -> None:
        self.username = username
        self.http = httpx.Client(base_url=url, timeout=60)
        token = self.http.post("/api/v1/token", data={"username": username, "password": password})
        token.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

    def search(self, dataset_id: str, statuses: list[str], **params: Any) -> dict[str, Any]:
        """The annotator's queue: records whose response status (for this user) is in ``statuses``."""
        body = {
            "filters": {
                "and": [{"type": "terms", "scope": {"entity": "response", "property": "status"}, "values": statuses}]
            }
        }
        response = self.http.post(
            f"/api/v1/me/datasets/{dataset_id}/records/search",
            params={"include": "responses", **params},
            json=body,
        )
        response.raise_for_status()
        return response.json()

    def submit(self, record_id: str, best: str, worst: str, status: str = "submitted") -> httpx.Response:
        """Answer best/worst for one record (server record id)."""
        values = {"best": {"value": best}, "worst": {"value": worst}}
        return self.http.post(f"/api/v1/records/{record_id}/responses", json={"values": values, "status": status})

    def metrics(self, dataset_id: str) -> dict[str, Any]:
        """The annotator's own progress (answered by the search engine)."""
        response = self.http.get(f"/api/v1/me/datasets/{dataset_id}/metrics")
        response.raise_for_status()
        return response.json()


#: Debian chromium driven by Playwright (never a downloaded browser).
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def open_dataset_in_ui(page: Any, url: str, username: str, password: str, dataset: str) -> Any:
    """Sign in to the Argilla web UI as ``username`` and open ``dataset``; returns the questions form."""
    page.goto(f"{url}/sign-in")
    page.fill("input[name=Username]", username)
    page.fill("input[name=Password]", password)
    page.click("button[type=submit]")
    page.get_by_text(dataset).click()
    form = page.locator("form[aria-label='Annotation Questions']")
    form.wait_for()
    return form


def start_server(tmp_path_factory: pytest.TempPathFactory, database: str) -> Iterator[EmbeddedArgilla]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt-get install -y redis-server)")
    if database == "postgresql":
        try:
            find_bindir()
            command_prefix()
        except PostgresError as exc:
            pytest.skip(str(exc))
    workdir = tmp_path_factory.mktemp(f"argilla-{database}")
    server = EmbeddedArgilla(Path(workdir), port=free_port(), database=database)
    server.start()
    try:
        yield server
    finally:
        server.stop()
