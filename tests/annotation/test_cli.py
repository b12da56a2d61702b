"""`annotate` commands: serve in a real subprocess (Ctrl-C stops every child), the others via CliRunner."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from annotation.cli import annotate_app
from annotation.server.embedded import free_port, port_is_free
from annotation.sync import load_roster
from tests.helpers import REPO

from .helpers import UIAnnotator, make_store


def test_roster_errors_name_file_entry_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "team.yaml"
    bad.write_text("- username: Alice Smith\n")
    with pytest.raises(Exception, match=r"team.yaml: entry 1: field 'username'"):
        load_roster(bad)
    csv = tmp_path / "team.csv"
    csv.write_text("username,first_name,role\nann-a,A,annotator\nann-b,B,admin\n")
    assert [(e.username, e.role) for e in load_roster(csv)] == [("ann-a", "annotator"), ("ann-b", "admin")]


@pytest.mark.server
def test_serve_commands_and_ctrl_c(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    store, _ = make_store(ws, n_sets=2)
    store.close()
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(REPO), "CHARM_WORKSPACE": str(ws)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "annotation.cli", "serve", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            output.append(line)
            if "Argilla is running" in line or not line:
                break
        assert any(f"127.0.0.1:{port}" in line for line in output), "".join(output)
        server_info = json.loads((ws / "argilla" / "server.json").read_text())
        owner = json.loads((ws / "argilla" / "secrets" / "owner.json").read_text())
        assert owner["password"] not in "".join(output) and owner["api_key"] not in "".join(output)

        # a second server on the same port is refused with a clear message
        busy = subprocess.run(
            [sys.executable, "-m", "annotation.cli", "serve", "--port", str(port), "-w", str(tmp_path / "other")],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert busy.returncode == 2 and f"Port {port}" in busy.stderr and "already in use" in busy.stderr

        runner = CliRunner()
        roster = tmp_path / "team.txt"
        roster.write_text("cli-ann\n")
        for args in (["users", str(roster)], ["push", "--min-submitted", "1"], ["push"]):
            result = runner.invoke(annotate_app, args, env={"CHARM_WORKSPACE": str(ws)})
            assert result.exit_code == 0, result.output
        assert "0 record(s) pushed, 2 already there" in result.output
        passwords = json.loads((ws / "argilla" / "secrets" / "annotators.json").read_text())
        annotator = UIAnnotator(server_info["url"], "cli-ann", passwords["cli-ann"])
        dataset_id = annotator.http.get("/api/v1/me/datasets").json()["items"][0]["id"]
        for item in annotator.search(dataset_id, ["pending"])["items"]:
            assert annotator.submit(item["record"]["id"], "A", "B").status_code == 201
        for args in (["status"], ["pull"], ["report"]):
            result = runner.invoke(annotate_app, args, env={"CHARM_WORKSPACE": str(ws)})
            assert result.exit_code == 0, result.output
            output.append(result.output)
        assert "2 annotation(s) stored, 0 rejected" in output[-2]
        assert (ws / "plots" / "annotation-report-bws.png").exists()
        assert "cli-ann" in output[-3]
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    assert "Stopped." in out
    assert port_is_free("127.0.0.1", port)
    assert port_is_free("127.0.0.1", server_info["redis_port"])
    assert not (ws / "argilla" / "server.json").exists()
