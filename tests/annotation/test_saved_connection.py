"""annotation.sync.connect finds a workspace's embedded server through EmbeddedArgilla.saved_connection."""

import json
from pathlib import Path

import pytest

from annotation.server.embedded import EmbeddedArgilla, load_or_create_owner
from annotation.sync import AnnotationError, connect, server_dir
from charm_kernel.paths import write_private


def test_saved_connection_reads_server_file_and_owner_credentials(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("CHARM_ARGILLA_OWNER_PASSWORD", raising=False)
    workdir = server_dir(tmp_path)
    assert EmbeddedArgilla.saved_connection(workdir) == (None, None)
    server = EmbeddedArgilla(workdir, port=6999)
    owner = load_or_create_owner(server.secrets_dir)
    assert EmbeddedArgilla.saved_connection(workdir) == (None, owner.api_key)  # started once, not running
    write_private(server.server_file, json.dumps({"url": server.url, "pid": 1}))
    assert EmbeddedArgilla.saved_connection(workdir) == ("http://127.0.0.1:6999", owner.api_key)
    server.server_file.write_text("{not json")
    assert server.running_info() == {}


def test_connect_without_a_server_is_one_line_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("ARGILLA_API_URL", raising=False)
    monkeypatch.delenv("ARGILLA_API_KEY", raising=False)
    with pytest.raises(AnnotationError, match="No Argilla server: start one with `charm-build annotate serve`"):
        connect(tmp_path)
