"""eval-rm --benchmark characterbench: CharacterBench's published test files (an excerpt of the real ones in
tests/training/data/characterbench), read as published, scored by correlation with the human scores."""

from __future__ import annotations

import copy
import csv
import itertools
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from charm_apps.train import app
from charm_kernel.errors import InputFormatError
from training.common.stats import spearman as stats_spearman
from training.rm import characterbench as cb
from training.rm import correlation
from training.rm.benchmarks import BenchmarkError

runner = CliRunner()
EXCERPT = Path(__file__).parent / "data" / "characterbench"
FILES = sorted(EXCERPT.glob("*_test.json"))


def raw(name: str) -> list[dict]:
    return json.loads((EXCERPT / name).read_text(encoding="utf-8"))


class ScriptedRM:
    """A reward model whose reward is the number of '+' in the reply (the test decides every score)."""

    def score(self, items, batch_size: int = 8, max_length: int = 2048) -> list[float]:
        return [float(reply.count("+")) for _, reply in items]


# ------------------------------------------------------------------------------------------ loading


def test_excerpt_loads_in_its_published_shape() -> None:
    items = cb.load(EXCERPT)
    assert len(FILES) == 7 and len(items) == 21
    assert {it.dimension for it in items} == {f.name.removesuffix("_test.json") for f in FILES}
    assert all(sum(it.dimension == d for it in items) == 3 for d in {it.dimension for it in items})
    # ordered like the authors' all_eval.py: memory_consistency first, engagement last
    assert cb.dimensions(cb.evaluate(ScriptedRM(), items))[0] == "memory_consistency"
    assert cb.dimensions(cb.evaluate(ScriptedRM(), items))[-1] == "engagement"

    source = raw("memory_consistency_test.json")[0]
    it = next(i for i in items if i.dimension == "memory_consistency")
    assert it.id == str(source["id"]) and it.human == float(source["annotation_score"])
    assert it.response == source["response_messages"]["response"]
    assert it.reference == float(source["pred_zh"])
    assert it.messages[0] == {"role": "system", "content": source["character_profile"]}
    # the greeting opens as the character, then the dialogue turns, ending with the user's query
    assert it.messages[1] == {"role": "assistant", "content": source["greeting"]}
    turns = it.messages[2:]
    assert [m["content"] for m in turns] == [t["utterance"] for t in source["dialogue"]]
    assert [m["role"] for m in turns] == ["user" if t["speaker"] == "user" else "assistant" for t in source["dialogue"]]
    assert turns[-1]["role"] == "user" and turns[-1]["content"] == source["messages"]["response"]


def test_english_reads_translation_en() -> None:
    zh = cb.load(EXCERPT / "engagement_test.json")
    en = cb.load(EXCERPT / "engagement_test.json", language="en")
    source = raw("engagement_test.json")
    assert len(en) == len(zh) == 3
    for item, z, e in zip(source, zh, en, strict=True):
        t = item["translation_en"]
        assert e.response == t["response_messages"]["response"] != z.response
        assert e.messages[0]["content"].startswith(t["character_profile"])
        assert e.messages[-1]["content"] == t["dialogue"][-1]["utterance"]
        assert e.human == z.human and e.reference == float(item["pred_en"])
        assert e.context != z.context


def test_single_file_limit_clone_root_and_any_dimension_name(tmp_path: Path) -> None:
    assert len(cb.load(EXCERPT, limit=1)) == 7
    clone = tmp_path / "CharacterBench"  # the repository's root: its raw_data folder is used
    shutil.copytree(EXCERPT, clone / "eval_data" / "raw_data")
    (clone / "results").mkdir()
    (clone / "results" / "results.json").write_text("")  # as published: empty
    assert len(cb.load(clone)) == 21
    new = tmp_path / "catchphrase_fidelity_test.json"  # a dimension the authors do not have
    shutil.copy(EXCERPT / "human_likeness_test.json", new)
    items = cb.load(new)
    assert [it.dimension for it in items] == ["catchphrase_fidelity"] * 3
    assert cb.dimensions(cb.evaluate(ScriptedRM(), items)) == ["catchphrase_fidelity"]


def test_profile_objects_numeric_strings_and_renamed_speakers(tmp_path: Path) -> None:
    """Shapes the real files have: a profile given as key -> value, a score written as a string, a
    speaker the English translation renamed."""
    item = copy.deepcopy(raw("human_likeness_test.json")[0])
    item["character_profile"] = {"姓名": "白展堂", "年龄": "25岁", "朋友": ["郭芙蓉", "吕轻侯"]}
    item["user_profile"] = {"姓名": "佟石头"}
    item["annotation_score"] = "3"
    item["translation_en"]["dialogue"][1]["speaker"] = "Somebody Else"
    path = tmp_path / "shapes_test.json"
    path.write_text(json.dumps([item], ensure_ascii=False), encoding="utf-8")
    (zh,) = cb.load(path)
    assert zh.human == 3.0
    assert zh.messages[0]["content"].startswith('姓名: 白展堂\n年龄: 25岁\n朋友: ["郭芙蓉", "吕轻侯"]')
    assert zh.messages[0]["content"].endswith("[用户信息]\n姓名: 佟石头")
    (en,) = cb.load(path, language="en")
    roles = [m["role"] for m in en.messages[1:]]
    assert all(a != b for a, b in itertools.pairwise(roles))  # still alternates


def _bad(edit) -> list[dict]:
    items = raw("memory_consistency_test.json")
    edit(items)
    return items


@pytest.mark.parametrize(
    ("edit", "language", "message"),
    [
        (lambda d: d[1].update(annotation_score="high"), "zh", "item 1: field 'annotation_score': expected a number"),
        (lambda d: d[2].pop("annotation_score"), "zh", "item 2: field 'annotation_score': missing"),
        (
            lambda d: d[0]["response_messages"].pop("response"),
            "zh",
            "item 0: field 'response_messages.response': missing",
        ),
        (lambda d: d[1].update(dialogue=[]), "zh", "item 1: field 'dialogue': expected a non-empty list"),
        (lambda d: d[0]["dialogue"].pop(), "zh", "item 0: field 'dialogue': the last turn must be the user's"),
        (lambda d: d[2]["dialogue"][0].pop("utterance"), "zh", "item 2: field 'dialogue[0].utterance'"),
        (lambda d: d[1].pop("translation_en"), "en", "item 1: field 'translation_en': missing or not an object"),
        (
            lambda d: d[0]["translation_en"].update(character_profile=""),
            "en",
            "item 0: field 'translation_en.character_profile': expected a non-empty string",
        ),
        (lambda d: d.__setitem__(1, "not an item"), "zh", "item 1: expected an object"),
    ],
)
def test_malformed_item_is_one_line_naming_file_item_field(tmp_path: Path, edit, language, message) -> None:
    path = tmp_path / "memory_consistency_test.json"
    path.write_text(json.dumps(_bad(edit), ensure_ascii=False), encoding="utf-8")
    with pytest.raises(InputFormatError) as err:
        cb.load(tmp_path, language=language)
    text = str(err.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text


def test_missing_or_empty_inputs(tmp_path: Path) -> None:
    with pytest.raises(BenchmarkError, match="no such file"):
        cb.load(tmp_path / "nope")
    with pytest.raises(BenchmarkError, match=r"no \.json file found"):
        cb.load(tmp_path)
    (tmp_path / "x_test.json").write_text('{"not": "an array"}')
    with pytest.raises(InputFormatError, match="expected a JSON array"):
        cb.load(tmp_path)
    with pytest.raises(BenchmarkError, match="language 'fr'"):
        cb.load(EXCERPT, language="fr")


# ------------------------------------------------------------------------------------ correlations


def test_correlations_by_hand() -> None:
    # x = 1 2 3 4, y = 1 3 2 4: dx = dy up to one swap; cov 4, var 5 and 5 -> r = 0.8; the ranks are the
    # values, so rho = 0.8; 6 pairs, one discordant -> tau = 4/6
    assert correlation.pearson([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert correlation.spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert correlation.kendall([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(4 / 6)
    # ties: x = 1 2 2 3, y = 1 1 2 3. tau-b: 4 concordant, 0 discordant, one tie on each side -> 4/sqrt(5*5);
    # ranks x = 1 2.5 2.5 4, y = 1.5 1.5 3 4 -> rho = 3.75/4.5; r = 2/sqrt(2*2.75)
    assert correlation.kendall([1, 2, 2, 3], [1, 1, 2, 3]) == pytest.approx(0.8)
    assert correlation.spearman([1, 2, 2, 3], [1, 1, 2, 3]) == pytest.approx(3.75 / 4.5)
    assert correlation.pearson([1, 2, 2, 3], [1, 1, 2, 3]) == pytest.approx(2 / math.sqrt(5.5))
    assert correlation.kendall([3, 2, 1], [1, 2, 3]) == pytest.approx(-1.0)
    for f in (correlation.pearson, correlation.spearman, correlation.kendall):
        assert f([1, 2, 3], [2, 2, 2]) is None and f([1], [1]) is None


def test_row_wise_correlations_match_the_plain_ones() -> None:
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, size=(20, 30)).astype(float)  # many ties, like 1-5 human scores
    y = x + rng.normal(0, 2, size=x.shape)
    x[3] = 2.0  # a constant row: undefined
    for rows, plain in (
        (correlation.pearson_rows, correlation.pearson),
        (correlation.spearman_rows, correlation.spearman),
        (correlation.kendall_rows, correlation.kendall),
    ):
        got = rows(x, y)
        assert math.isnan(got[3])
        for r in (0, 1, 7, 19):
            assert got[r] == pytest.approx(plain(list(x[r]), list(y[r])))
    for r in (0, 5):
        assert correlation.spearman(list(x[r]), list(y[r])) == pytest.approx(stats_spearman(list(x[r]), list(y[r])))


def _synthetic(tmp_path: Path) -> Path:
    """Two dimensions built from real items: 'ranked' (four contexts, one reply each: human 1 2 3 4, RM
    1 3 2 4) and 'shared' (one context, four replies: human 1 2 2 3, RM 1 1 2 3 -> pairs)."""
    base = raw("engagement_test.json")
    folder = tmp_path / "raw_data"
    folder.mkdir()
    ranked = []
    for k, (human, plus) in enumerate(zip([1, 2, 3, 4], [1, 3, 2, 4], strict=True)):
        item = copy.deepcopy(base[k % 3])
        item["dialogue"][-1]["utterance"] += f" ({k})"  # four different contexts
        item.update(id=100 + k, annotation_score=human)
        item["response_messages"]["response"] = "+" * plus
        ranked.append(item)
    shared = []
    for k, (human, plus) in enumerate(zip([1, 2, 2, 3], [1, 1, 2, 3], strict=True)):
        item = copy.deepcopy(base[0])
        item.update(id=200 + k, annotation_score=human)
        item["response_messages"]["response"] = "+" * plus
        shared.append(item)
    (folder / "ranked_test.json").write_text(json.dumps(ranked, ensure_ascii=False), encoding="utf-8")
    (folder / "shared_test.json").write_text(json.dumps(shared, ensure_ascii=False), encoding="utf-8")
    return folder


def test_summary_by_hand_with_intervals(tmp_path: Path) -> None:
    outcomes = cb.evaluate(ScriptedRM(), cb.load(_synthetic(tmp_path)), batch_size=3)
    s = cb.summarize(outcomes, resamples=200, seed=1)
    ranked, shared = s["dimensions"]["ranked"], s["dimensions"]["shared"]
    assert ranked["Pearson"]["value"] == pytest.approx(0.8) and ranked["Kendall"]["value"] == pytest.approx(4 / 6)
    assert shared["Pearson"]["value"] == pytest.approx(2 / math.sqrt(5.5))
    assert shared["Spearman"]["value"] == pytest.approx(3.75 / 4.5)
    cols = s["columns"]
    assert cols["Pearson Avg."]["value"] == pytest.approx((0.8 + 2 / math.sqrt(5.5)) / 2)
    assert cols["Kendall Avg."]["value"] == pytest.approx((4 / 6 + 0.8) / 2)
    # 'shared': 4 replies to one context, human 1 2 2 3 -> 5 pairs with different scores (the 2-2 pair is
    # not one); RM 1 1 2 3: (1 vs 2 [RM 1 vs 1]) is a tie -> wrong, the other four right
    assert (ranked["contexts"], ranked["pairs"], shared["contexts"], shared["pairs"]) == (4, 0, 1, 5)
    assert shared["Pair acc."]["value"] == pytest.approx(80.0) and ranked["Pair acc."]["value"] is None
    assert s["pairs"] == 5 and cols["Pair acc."]["value"] == pytest.approx(80.0)
    # every figure has a 95 % interval around it
    for cell in [*cols.values(), *(shared[c] for c in ("Pearson", "Spearman", "Kendall", "Pair acc."))]:
        assert cell["lo"] <= cell["value"] <= cell["hi"], cell
    assert s["bootstrap"]["strata"] == {"ranked": 4, "shared": 4} and s["bootstrap"]["resamples"] == 200
    # the same seed gives the same intervals
    assert cb.summarize(outcomes, resamples=200, seed=1)["columns"] == cols
    assert "lo" not in cb.summarize(outcomes, resamples=0)["columns"]["Pearson Avg."]


def test_reference_judge_correlations_come_from_the_files() -> None:
    outcomes = cb.evaluate(ScriptedRM(), cb.load(EXCERPT))
    s = cb.summarize(outcomes, resamples=0)
    items = raw("human_likeness_test.json")
    ref = s["dimensions"]["human_likeness"]["reference"]
    human = [float(i["annotation_score"]) for i in items]
    assert ref["Pearson"] == pytest.approx(correlation.pearson([float(i["pred_zh"]) for i in items], human))
    assert s["reference"]["name"].startswith("CharacterJudge")
    assert s["pairs"] == 0 and "no pairs" in s["note"]  # the published files: one reply per context


# ------------------------------------------------------------------------- a real (tiny) reward model


@pytest.fixture(scope="module")
def tiny_rm(tmp_path_factory: pytest.TempPathFactory, tiny_llama: Path) -> Path:
    """An untrained reward model (random value head) on the tiny random Llama, saved as charm-train rm does."""
    from training.rm.model import load_backbone

    path = tmp_path_factory.mktemp("cb-rm") / "rm"
    load_backbone(tiny_llama, seed=0).save(path)
    return path


def test_tiny_model_scores_every_reply(tiny_rm: Path) -> None:
    from training.rm.model import load_reward_model

    model = load_reward_model(tiny_rm, device="cpu")
    items = cb.load(EXCERPT, language="en")
    outcomes = cb.evaluate(model, items, batch_size=4, max_length=128)
    direct = model.score([(it.messages, it.response) for it in items[:2]], max_length=128)
    assert [o.score for o in outcomes[:2]] == pytest.approx(direct, abs=1e-5)
    s = cb.summarize(outcomes, resamples=100)
    for d, cell in s["dimensions"].items():
        scores = [o.score for o in outcomes if o.dimension == d]
        human = [o.human for o in outcomes if o.dimension == d]
        assert cell["Pearson"]["value"] == pytest.approx(correlation.pearson(scores, human))
        assert cell["Pearson"]["lo"] <= cell["Pearson"]["value"] <= cell["Pearson"]["hi"]
    assert s["columns"]["Spearman Avg."]["lo"] <= s["columns"]["Spearman Avg."]["value"]


def test_cli_end_to_end_on_the_excerpt(tiny_rm: Path, tmp_path: Path) -> None:
    out = tmp_path / "cb"
    args = ["eval-rm", str(tiny_rm), "-b", "characterbench", str(EXCERPT), "-o", str(out), "--device", "cpu"]
    res = runner.invoke(app, [*args, "--max-length", "128", "--name", "tiny", "--bootstrap", "100", "-q"])
    assert res.exit_code == 0, res.output
    assert "CharacterBench (zh)" in res.output and "memory_consistency" in res.output
    summary = json.loads((out / "summary.json").read_text())
    s = summary["benchmarks"]["characterbench"]
    assert summary["method"] == "tiny" and s["n"] == 21 and s["language"] == "zh" and s["source"] == str(EXCERPT)
    responses = [json.loads(line) for line in (out / "responses.jsonl").read_text().splitlines()]
    assert len(responses) == 21 and not (out / "pairs.jsonl").exists()
    # the table follows from the per-reply scores
    by_dim: dict[str, list[dict]] = {}
    for r in responses:
        by_dim.setdefault(r["dimension"], []).append(r)
    pearsons = [correlation.pearson([r["score"] for r in v], [r["human"] for r in v]) for v in by_dim.values()]
    row = dict(zip(*list(csv.reader((out / "results.csv").open())), strict=True))
    assert row["Method"] == "tiny"
    assert row["CharacterBench Pearson Avg."] == f"{sum(pearsons) / len(pearsons):.3f}"
    iv = s["columns"]["Pearson Avg."]
    assert row["CharacterBench Pearson Avg. lo"] == f"{iv['lo']:.3f}"
    md = (out / "results.md").read_text()
    assert md.startswith("| Model | CharacterBench Pearson Avg. | CharacterBench Spearman Avg. |")
    assert f"| tiny | {iv['value']:.3f} ± {(iv['hi'] - iv['lo']) / 2:.3f} |" in md
    assert "Reference, CharacterJudge (pred_zh in the files)" in md

    res = runner.invoke(app, [*args, "--max-length", "128", "--language", "en", "--limit", "2", "-q"])
    assert res.exit_code == 0, res.output
    s = json.loads((out / "summary.json").read_text())["benchmarks"]["characterbench"]
    assert s["language"] == "en" and s["n"] == 14


def test_cli_bad_characterbench_input(tiny_rm: Path, tmp_path: Path) -> None:
    out = tmp_path / "never"
    bad = tmp_path / "bad"
    bad.mkdir()
    items = raw("engagement_test.json")
    del items[2]["response_messages"]
    (bad / "engagement_test.json").write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")
    rb = tmp_path / "rb.jsonl"
    rb.write_text(json.dumps({"prompt": "q", "chosen": "a", "rejected": "b", "subset": "mt-bench-med"}))
    cases = [
        (["-b", "characterbench", str(bad)], "item 2: field 'response_messages': expected an object"),
        (["-b", "characterbench", str(EXCERPT), "--language", "fr"], "--language 'fr': choose from zh, en"),
        (["-b", "characterbench", str(EXCERPT), "--limit", "0"], "--limit must be >= 1"),
        (["-b", "rewardbench", str(rb), "--language", "en"], "apply to --benchmark characterbench only"),
        (["-b", "charbench", str(EXCERPT)], "choose from rewardbench, judgebench, characterbench"),
    ]
    for args, needle in cases:
        res = runner.invoke(app, ["eval-rm", str(tiny_rm), *args, "-o", str(out), "-q"])
        assert res.exit_code == 2, res.output
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], res.stderr
        assert not out.exists()
