"""eval-rm --benchmark: RewardBench and JudgeBench files in their published formats, scored as their
authors score a reward model (section weighting, tie rules, per-category and overall accuracy)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from charm_apps.train import app
from charm_kernel.errors import InputFormatError
from tests.training.rm.helpers import train_rm
from training.rm import judgebench, rewardbench
from training.rm.benchmarks import BenchmarkError, evaluate

runner = CliRunner()


class ScriptedRM:
    """A reward model whose reward is the number of '+' in the reply (so the test decides each pair)."""

    def __init__(self) -> None:
        self.seen: list[tuple[list[dict[str, str]], str]] = []

    def score(self, items, batch_size: int = 8, max_length: int = 2048) -> list[float]:
        self.seen += list(items)
        return [float(reply.count("+")) for _, reply in items]


RIGHT, WRONG, TIE = ("chosen ++", "rejected +"), ("chosen +", "rejected ++"), ("chosen +", "rejected +")
# (subset, outcome) in the published filtered-split shape
RB_PATTERN = [
    ("alpacaeval-easy", RIGHT),
    ("alpacaeval-easy", RIGHT),
    ("mt-bench-med", RIGHT),
    ("mt-bench-med", WRONG),
    ("mt-bench-hard", TIE),  # a tie is wrong in RewardBench
    ("llmbar-natural", RIGHT),
    ("xstest-should-refuse", RIGHT),
    ("xstest-should-refuse", WRONG),
    ("donotanswer", RIGHT),
    ("math-prm", RIGHT),
    ("math-prm", WRONG),
    ("hep-python", RIGHT),
    ("my-extra-subset", WRONG),  # not in any section
]


def rb_rows() -> list[dict]:
    return [
        {
            "prompt": f"Question {i}?",
            "chosen": ch,
            "chosen_model": "m1",
            "rejected": rj,
            "rejected_model": "m2",
            "subset": subset,
            "id": 100 + i,
        }
        for i, (subset, (ch, rj)) in enumerate(RB_PATTERN)
    ]


def write_rb(path: Path, rows: list[dict] | None = None) -> Path:
    rows = rows if rows is not None else rb_rows()
    if path.suffix == ".parquet":
        pq.write_table(pa.Table.from_pylist(rows), path)
    elif path.suffix == ".json":
        path.write_text(json.dumps(rows))
    else:
        path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def expected_rewardbench() -> dict[str, float]:
    # subset accuracies read off RB_PATTERN, weighted by RewardBench's EXAMPLE_COUNTS (written out by hand)
    chat = (1.0 * 100 + 0.5 * 40) / (100 + 40)
    chat_hard = (0.0 * 37 + 1.0 * 100) / (37 + 100)
    safety = (0.5 * 250 + 1.0 * 136) / (250 + 136)
    reasoning = (0.5 * 984 + 1.0 * 164) / (984 + 164)  # math-prm upweighted: not (1 + 1) / 3 by rows
    sections = [100 * x for x in (chat, chat_hard, safety, reasoning)]
    return dict(zip(("Chat", "Chat-Hard", "Safety", "Reasoning"), sections, strict=True)) | {"Avg.": sum(sections) / 4}


@pytest.mark.parametrize("suffix", [".parquet", ".json", ".jsonl"])
def test_rewardbench_sections_by_hand(tmp_path: Path, suffix: str) -> None:
    pairs = rewardbench.load(write_rb(tmp_path / f"filtered{suffix}"))
    rm = ScriptedRM()
    outcomes = evaluate(rm, pairs, batch_size=4)
    s = rewardbench.summarize(outcomes)
    for col, value in expected_rewardbench().items():
        assert s["columns"][col] == pytest.approx(value), col
    assert s["columns"]["Reasoning"] == pytest.approx(100 * 656 / 1148)
    assert s["categories"]["mt-bench-med"] == {"n": 2, "accuracy": 50.0}
    assert s["categories"]["my-extra-subset"] == {"n": 1, "accuracy": 0.0} and "my-extra-subset" in s["note"]
    assert s["n"] == len(RB_PATTERN)
    # the prompt is the user turn, each reply scored on its own
    assert rm.seen[0] == ([{"role": "user", "content": "Question 0?"}], "chosen ++")
    assert [o.id for o in outcomes][:2] == ["100", "101"]


def test_rewardbench_missing_sections_are_left_out(tmp_path: Path) -> None:
    rows = [r for r in rb_rows() if r["subset"] in ("alpacaeval-easy", "mt-bench-med")]
    s = rewardbench.summarize(evaluate(ScriptedRM(), rewardbench.load(write_rb(tmp_path / "chat.jsonl", rows))))
    assert s["columns"]["Safety"] is None and s["columns"]["Chat-Hard"] is None
    assert s["columns"]["Avg."] == pytest.approx(s["columns"]["Chat"]) == pytest.approx(100 * 120 / 140)


JB_PATTERN = [  # (source, label, reply A, reply B, correct?)
    ("mmlu-pro-law", "A>B", "A ++", "B +", True),
    ("mmlu-pro-computer science", "B>A", "A +", "B ++", True),
    ("mmlu-pro-math", "A>B", "A +", "B +", False),  # a tie is decided B>A
    ("livebench-reasoning", "B>A", "A +", "B +", True),  # ... which is right here
    ("livebench-reasoning", "A>B", "A +", "B ++", False),
    ("livebench-math", "A>B", "A +++", "B +", True),
    ("livecodebench", "B>A", "A ++", "B +", False),
    ("livecodebench", "A>B", "A", "B +", False),
]


def jb_rows() -> list[dict]:
    return [
        {
            "pair_id": f"p-{i}",
            "original_id": i if i % 2 else str(1000 + i),
            "source": src,
            "question": f"Q{i}",
            "response_model": "gpt-4o-2024-05-13",
            "response_A": a,
            "response_B": b,
            "label": label,
        }
        for i, (src, label, a, b, _) in enumerate(JB_PATTERN)
    ]


def test_judgebench_categories_and_both_averages(tmp_path: Path) -> None:
    path = tmp_path / "dataset=judgebench,response_model=gpt-4o-2024-05-13.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in jb_rows()) + "\n")  # original_id mixes int and str
    outcomes = evaluate(ScriptedRM(), judgebench.load(path), batch_size=3)
    assert [o.correct for o in outcomes] == [c for *_, c in JB_PATTERN]
    s = judgebench.summarize(outcomes)
    # by hand from JB_PATTERN: Knowledge 2 of 3, Reasoning 1 of 2, Math 1 of 1, Coding 0 of 2
    assert s["columns"]["Knowledge"] == pytest.approx(200 / 3)
    assert s["columns"]["Reasoning"] == pytest.approx(50.0)
    assert s["columns"]["Math"] == pytest.approx(100.0)
    assert s["columns"]["Coding"] == pytest.approx(0.0)
    assert s["columns"]["Avg. (pairs)"] == pytest.approx(100 * 4 / 8)  # 4 of 8 pairs right
    assert s["columns"]["Avg. (categories)"] == pytest.approx((200 / 3 + 50 + 100 + 0) / 4)  # 54.17
    assert set(s["averages"]) == {"Avg. (pairs)", "Avg. (categories)"}
    assert "GPT-4o" in s["averages"]["Avg. (pairs)"] and "AAM" in s["averages"]["Avg. (categories)"]


def test_judgebench_averages_with_other_sources_and_a_missing_category(tmp_path: Path) -> None:
    # Math has no pairs; one pair's source is none of the four categories
    pattern = [row for row in JB_PATTERN if row[0] != "livebench-math"] + [("arena-hard", "A>B", "A ++", "B", True)]
    rows = [r for r in jb_rows() if r["source"] != "livebench-math"]
    rows.append({**rows[0], "pair_id": "p-x", "source": "arena-hard", "response_A": "A ++", "response_B": "B"})
    path = tmp_path / "jb.json"
    path.write_text(json.dumps(rows))
    s = judgebench.summarize(evaluate(ScriptedRM(), judgebench.load(path)))
    assert len(pattern) == s["n"] == 8
    assert s["columns"]["Math"] is None
    assert s["categories"]["other sources"] == {"n": 1, "accuracy": 100.0}
    # pairs: K 2 of 3 + R 1 of 2 + C 0 of 2 + other 1 of 1 = 4 of 8; categories: the three with pairs
    assert s["columns"]["Avg. (pairs)"] == pytest.approx(50.0)
    assert s["columns"]["Avg. (categories)"] == pytest.approx((200 / 3 + 50 + 0) / 3)
    assert "over the 3 categories with pairs" in s["note"] and "1 pair(s) from other sources" in s["note"]


@pytest.mark.parametrize(
    ("module", "rows", "edit", "message"),
    [
        (rewardbench, rb_rows, lambda r: r[2].pop("subset"), "row 2: field 'subset': missing"),
        (rewardbench, rb_rows, lambda r: r[1].update(chosen=""), "row 1: field 'chosen': expected a non-empty"),
        (judgebench, jb_rows, lambda r: r[3].update(label="A=B"), "row 3: field 'label': 'A=B' is not one of"),
        (judgebench, jb_rows, lambda r: r[0].pop("question"), "row 0: field 'question': missing"),
    ],
)
def test_bad_rows_name_file_row_field(tmp_path: Path, module, rows, edit, message) -> None:
    data = rows()
    edit(data)
    path = tmp_path / "bench.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in data))
    with pytest.raises(InputFormatError, match=message) as err:
        module.load(path)
    assert str(path) in str(err.value)
    with pytest.raises(BenchmarkError, match="no such file"):
        module.load(tmp_path / "missing.parquet")


@pytest.fixture(scope="module")
def trained_rm(tmp_path_factory: pytest.TempPathFactory, tiny_llama: Path) -> Path:
    from datasets import Dataset, DatasetDict

    from tests.training.rm.helpers import preference_rows

    root = tmp_path_factory.mktemp("bench-rm")
    DatasetDict({"train": Dataset.from_list(preference_rows(4))}).save_to_disk(str(root / "pt"))
    train_rm(root / "pt", root / "rm", tiny_llama, "--max-steps", "1", "--max-length", "64")
    return root / "rm"


def test_cli_rewardbench_and_judgebench_with_a_trained_rm(trained_rm: Path, tmp_path: Path) -> None:
    import torch

    from training.rm.model import load_reward_model

    rb = write_rb(tmp_path / "filtered-00000-of-00001.parquet")
    out = tmp_path / "rb"
    res = runner.invoke(
        app,
        [
            "eval-rm",
            str(trained_rm),
            "--benchmark",
            "rewardbench",
            str(rb),
            "-o",
            str(out),
            "--name",
            "BT tiny",
            "--device",
            "cpu",
            "-q",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "RewardBench" in res.output and "Chat-Hard" in res.output
    md = (out / "results.md").read_text()
    assert (
        md.startswith(
            "| Model | RewardBench Chat | RewardBench Chat-Hard | RewardBench Safety | "
            "RewardBench Reasoning | RewardBench Avg. |"
        )
        and "| BT tiny |" in md
    )
    pairs = [json.loads(line) for line in (out / "pairs.jsonl").read_text().splitlines()]
    assert len(pairs) == len(RB_PATTERN)
    # the real model's rewards are in pairs.jsonl and the table follows from them
    model = load_reward_model(trained_rm, device="cpu")
    with torch.no_grad():
        a, b = model.score(
            [
                ([{"role": "user", "content": "Question 0?"}], "chosen ++"),
                ([{"role": "user", "content": "Question 0?"}], "rejected +"),
            ]
        )
    assert pairs[0]["score_a"] == pytest.approx(a, abs=1e-4) and pairs[0]["score_b"] == pytest.approx(b, abs=1e-4)
    assert all(p["correct"] == (p["score_a"] > p["score_b"]) for p in pairs)
    acc = {}
    for p in pairs:
        acc.setdefault(p["category"], []).append(p["correct"])
    subset_acc = {k: 100 * sum(v) / len(v) for k, v in acc.items() if k != "my-extra-subset"}
    sections = rewardbench.section_scores(subset_acc)
    row = dict(zip(*list(csv.reader((out / "results.csv").open())), strict=True))
    assert row["Method"] == "BT tiny"
    assert row["RewardBench Chat"] == f"{sections['Chat']:.1f}"
    assert row["RewardBench Avg."] == f"{sum(sections.values()) / 4:.1f}"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["benchmarks"]["rewardbench"]["n"] == len(RB_PATTERN)
    assert "RewardBench Avg. ±" not in md and " ± " in md.splitlines()[2]  # every cell of the row has one
    assert md.splitlines()[2].count(" ± ") == 5
    assert summary["benchmarks"]["rewardbench"]["bootstrap"]["strata"]["math-prm"] == 2
    assert len((out / "items.jsonl").read_text().splitlines()) == len(RB_PATTERN)

    jb = tmp_path / "jb.jsonl"
    jb.write_text("\n".join(json.dumps(r) for r in jb_rows()))
    res = runner.invoke(
        app,
        ["eval-rm", str(trained_rm), "-b", "judgebench", str(jb), "-o", str(tmp_path / "jb"), "--device", "cpu", "-q"],
    )
    assert res.exit_code == 0, res.output
    row = dict(zip(*list(csv.reader((tmp_path / "jb" / "results.csv").open())), strict=True))
    assert [c for c in list(row)[1:] if not c.endswith((" lo", " hi"))] == [
        "JudgeBench Knowledge",
        "JudgeBench Reasoning",
        "JudgeBench Math",
        "JudgeBench Coding",
        "JudgeBench Avg. (pairs)",
        "JudgeBench Avg. (categories)",
    ]
    jpairs = [json.loads(line) for line in (tmp_path / "jb" / "pairs.jsonl").read_text().splitlines()]
    assert row["JudgeBench Avg. (pairs)"] == f"{100 * sum(p['correct'] for p in jpairs) / len(jpairs):.1f}"
    by_category: dict[str, list[bool]] = {}
    for p in jpairs:
        by_category.setdefault(judgebench.category_of(p["category"]), []).append(p["correct"])
    category_mean = sum(100 * sum(v) / len(v) for v in by_category.values()) / len(by_category)
    assert row["JudgeBench Avg. (categories)"] == f"{category_mean:.1f}"
    summary = json.loads((tmp_path / "jb" / "summary.json").read_text())["benchmarks"]["judgebench"]
    assert summary["columns"]["Avg. (categories)"] == pytest.approx(category_mean)
    md = (tmp_path / "jb" / "results.md").read_text()
    assert "JudgeBench Avg. (pairs) | JudgeBench Avg. (categories) |" in md and "GPT-4o" in md
    # both averages get intervals (same resamples), shown as ± in results.md and as bounds in the CSV
    for col in ("Avg. (pairs)", "Avg. (categories)"):
        iv = summary["intervals"][f"JudgeBench {col}"]
        assert iv["lo"] <= summary["columns"][col] <= iv["hi"]
        assert row[f"JudgeBench {col} lo"] == f"{iv['lo']:.1f}" and row[f"JudgeBench {col} hi"] == f"{iv['hi']:.1f}"
        assert f"{summary['columns'][col]:.1f} ± {(iv['hi'] - iv['lo']) / 2:.1f}" in md
    assert "± is half the width of the 95 % percentile bootstrap interval" in md


def test_cli_bad_benchmark_input(trained_rm: Path, tmp_path: Path) -> None:
    out = tmp_path / "never"
    rows = rb_rows()
    del rows[4]["rejected"]
    bad = write_rb(tmp_path / "bad.jsonl", rows)
    cases = [
        (["eval-rm", str(trained_rm), "-b", "mtbench", str(bad)], "--benchmark 'mtbench': unknown benchmark"),
        (["eval-rm", str(trained_rm), "-b", "rewardbench", str(bad)], "row 4: field 'rejected': missing"),
        (["eval-rm", "-b", "rewardbench", str(bad)], "give its folder"),
        (["eval-rm", str(trained_rm), "-b", "rewardbench", str(bad), "--data", str(bad)], "--benchmark replaces"),
    ]
    for args, needle in cases:
        res = runner.invoke(app, [*args, "-o", str(out), "-q"])
        assert res.exit_code == 2, res.output
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], res.stderr
        assert not out.exists()
