"""Preference rows in every TRL format become one pair form; malformed rows fail naming file/row/field;
several sources mix by weight (no model needed: fast)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from tests.training.rm.helpers import preference_rows
from tests.training.rm.preference_shapes import (
    CHAT_A1,
    CHAT_Q1,
    CHAT_Q2,
    MATH_Q,
    skywork_rows,
    ultrafeedback_rows,
    write_jsonl,
    write_parquet,
)
from training.rm.data import DataError
from training.rm.formats import normalise_pair
from training.rm.mix import mix_counts, mix_indices
from training.rm.sources import load_preference_data


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


# ------------------------------------------------------------------------------- one row per format


def test_skywork_single_turn_prompt_is_the_shared_user_turn() -> None:
    pair = normalise_pair(skywork_rows()[0], "sky.parquet: row 0")
    assert pair.format == "conversational-implicit"
    assert pair.prompt == [user(MATH_Q)]
    assert pair.chosen == [assistant("17 * 24 = 17 * 20 + 17 * 4 = 340 + 68 = 408.")]
    assert pair.rejected == [assistant("17 * 24 = 398.")]


def test_skywork_multi_turn_prompt_keeps_the_earlier_turns() -> None:
    pair = normalise_pair(skywork_rows()[2], "sky.parquet: row 2")
    assert pair.prompt == [user(CHAT_Q1), assistant(CHAT_A1), user(CHAT_Q2)]
    assert pair.rejected == [assistant("Just relax.")]
    system = normalise_pair(skywork_rows()[3], "sky.parquet: row 3")
    assert [m["role"] for m in system.prompt] == ["system", "user"]


def test_ultrafeedback_string_prompt_column_is_ignored_for_the_shared_prefix() -> None:
    row = ultrafeedback_rows()[1]
    pair = normalise_pair(row, "uf.jsonl: row 1")
    assert pair.format == "conversational-implicit"
    assert pair.prompt == [user("Translate 'good morning' to Spanish.")]
    assert (pair.chosen, pair.rejected) == ([assistant("Buenos días.")], [assistant("Buenas noches.")])


def test_explicit_conversational_our_export_is_unchanged() -> None:
    row = preference_rows(1)[0]
    pair = normalise_pair(row, "export: row 0")
    assert pair.format == "conversational"
    assert (pair.prompt, pair.chosen, pair.rejected) == (row["prompt"], row["chosen"], row["rejected"])


def test_explicit_conversational_string_prompt_becomes_a_user_message() -> None:
    pair = normalise_pair({"prompt": "Hi?", "chosen": [assistant("Hello!")], "rejected": [assistant("Go away.")]}, "w")
    assert (pair.format, pair.prompt) == ("conversational", [user("Hi?")])


def test_standard_explicit_keeps_strings() -> None:
    pair = normalise_pair({"prompt": "The sky is", "chosen": " blue.", "rejected": " green."}, "w")
    assert (pair.format, pair.prompt, pair.chosen, pair.rejected) == ("standard", "The sky is", " blue.", " green.")


def test_standard_implicit_splits_at_the_common_prefix_keeping_the_space() -> None:
    pair = normalise_pair({"chosen": "The sky is blue.", "rejected": "The sky is green."}, "w")
    assert (pair.format, pair.prompt, pair.chosen, pair.rejected) == (
        "standard-implicit",
        "The sky is",
        " blue.",
        " green.",
    )


def test_string_replies_under_a_message_prompt_become_assistant_messages() -> None:
    pair = normalise_pair({"prompt": [user("Hi?")], "chosen": "Hello!", "rejected": "Bye."}, "w")
    assert (pair.format, pair.chosen, pair.rejected) == ("conversational", [assistant("Hello!")], [assistant("Bye.")])


# ------------------------------------------------------------------------------- malformed rows

Q = [user("Q?")]


@pytest.mark.parametrize(
    ("row", "field", "problem"),
    [
        ({"chosen": 3, "rejected": "x", "prompt": "p"}, "chosen", "a int; expected a string or a list of"),
        ({"chosen": None, "rejected": "x", "prompt": "p"}, "chosen", "missing (null)"),
        ({"chosen": "a", "rejected": [assistant("b")], "prompt": "p"}, "rejected", "is a message list but 'chosen'"),
        ({"chosen": [*Q, {"content": "a"}], "rejected": [*Q, assistant("b")]}, "chosen", "message 1 has no 'role'"),
        ({"chosen": [*Q, assistant("a")], "rejected": [*Q, {"role": "assistant"}]}, "rejected", "has no 'content'"),
        ({"chosen": [*Q, "text"], "rejected": [*Q, assistant("b")]}, "chosen", "message 1 is str"),
        ({"chosen": [], "rejected": [assistant("b")], "prompt": Q}, "chosen", "empty message list"),
        ({"chosen": [user("A?"), assistant("a")], "rejected": [user("B?"), assistant("b")]}, "chosen", "share no"),
        ({"chosen": [*Q, assistant("a")], "rejected": [*Q, assistant("a")]}, "rejected", "identical to 'chosen'"),
        ({"chosen": [assistant("a")], "rejected": [assistant("b")]}, "prompt", "missing"),
        ({"chosen": Q, "rejected": [*Q, assistant("b")]}, "chosen", "ends inside the shared prompt"),
        (
            {"chosen": [*Q, assistant("a"), user("more"), assistant("c")], "rejected": [*Q, assistant("b")]},
            "chosen",
            "message 2 has role 'user' after chosen and rejected diverge at message 1",
        ),
        ({"prompt": "p", "chosen": "same", "rejected": "same"}, "rejected", "identical to 'chosen'"),
        ({"chosen": "The sky", "rejected": "The sky"}, "rejected", "identical to 'chosen'"),
        ({"prompt": 7, "chosen": [assistant("a")], "rejected": [assistant("b")]}, "prompt", "a int"),
    ],
)
def test_malformed_row_is_one_line_naming_file_row_and_field(row: dict, field: str, problem: str) -> None:
    with pytest.raises(DataError) as err:
        normalise_pair(row, "data/pairs.jsonl: row 7")
    msg = str(err.value)
    assert msg.startswith(f"data/pairs.jsonl: row 7: field '{field}': "), msg
    assert problem in msg and "\n" not in msg


def test_a_bad_row_in_a_file_names_the_file_and_its_row(tmp_path: Path) -> None:
    rows = skywork_rows()
    rows[2]["rejected"] = [*rows[2]["rejected"][:-1], {"role": "assistant"}]
    path = write_parquet(rows, tmp_path / "skywork.parquet")
    with pytest.raises(DataError, match=rf"^{path}: row 2: field 'rejected': .*has no 'content'"):
        load_preference_data([path])


def test_pairs_with_the_same_reply_twice_are_skipped_and_counted(tmp_path: Path) -> None:
    rows = skywork_rows()
    rows[2]["rejected"] = rows[2]["chosen"]
    path = write_parquet(rows, tmp_path / "skywork.parquet")
    data = load_preference_data([path])
    assert len(data.rows) == len(rows) - 1
    assert data.sources[0].record()["skipped_identical"] == 1
    assert data.notes == [f"{path}: skipped 1 pair(s) whose chosen and rejected are the same reply (rows 2)"]
    for row in rows:
        row["rejected"] = row["chosen"]
    with pytest.raises(DataError, match=r"all \d+ pairs have identical chosen and rejected replies"):
        load_preference_data([write_parquet(rows, tmp_path / "ties.parquet")])


def test_a_missing_column_names_the_file(tmp_path: Path) -> None:
    path = write_jsonl([{"prompt": "p", "chosen": "a"}], tmp_path / "half.jsonl")
    with pytest.raises(DataError, match=rf"^{path}: missing column 'rejected'"):
        load_preference_data([path])


# ------------------------------------------------------------------------------- sources and mixing


def test_mix_counts_keep_the_total_and_follow_the_weights() -> None:
    assert mix_counts([3, 9], None) == [3, 9]
    assert mix_counts([3, 9], [0.5, 0.5]) == [6, 6]
    assert mix_counts([3, 9], [1, 3]) == [3, 9]
    counts = mix_counts([5, 5, 5], [1, 1, 1])
    assert counts == [5, 5, 5] and sum(mix_counts([7, 4, 2], [0.2, 0.3, 0.5])) == 13
    assert mix_counts([7, 4, 2], [0.2, 0.3, 0.5]) == [3, 4, 6]  # 2.6, 3.9, 6.5 -> largest remainders


def test_mix_indices_up_sample_by_whole_copies_and_subsample_without_repeats() -> None:
    small, big = mix_indices([3, 9], [0.5, 0.5], seed=1)
    assert Counter(small) == {0: 2, 1: 2, 2: 2}  # 6 = every row twice
    assert len(big) == 6 and len(set(big)) == 6 and set(big) <= set(range(9))
    up = mix_indices([4, 8], [0.75, 0.25], seed=1)[0]  # 9 of 4 rows: twice each + 1 more
    assert len(up) == 9 and sorted(Counter(up).values()) == [2, 2, 2, 3]
    assert mix_indices([3, 9], [0.5, 0.5], seed=1) == [small, big]  # same seed, same pairs
    assert any(mix_indices([3, 9], [0.5, 0.5], seed=s)[1] != big for s in range(2, 6))


def test_load_preference_data_records_sources_formats_and_pairs(tmp_path: Path) -> None:
    sky = write_parquet(skywork_rows(), tmp_path / "skywork.parquet")
    uf = write_jsonl(ultrafeedback_rows(), tmp_path / "ultrafeedback.jsonl")
    data = load_preference_data([sky, uf], mix=[1, 1], seed=3)
    rec = data.record()
    assert rec["mix"] == "weighted" and rec["pairs"] == 7 == len(data.rows) == len(data.row_names)
    assert [(s["path"], s["rows"], s["weight"], s["pairs"]) for s in rec["sources"]] == [
        (str(sky), 4, 0.5, 4),  # 3.5 each: the tie goes to the first source
        (str(uf), 3, 0.5, 3),
    ]
    assert rec["sources"][0]["formats"] == {"conversational-implicit": 4}
    assert data.rows[-1]["score_chosen"] == 8.5  # other columns travel with the pair
    plain = load_preference_data([sky, uf], limit=2).record()
    assert (plain["mix"], [s["pairs"] for s in plain["sources"]]) == ("concatenate", [2, 2])


def test_train_prefs_is_taken_when_train_is_absent(tmp_path: Path) -> None:
    from datasets import Dataset, DatasetDict

    folder = tmp_path / "ultrafeedback_binarized"
    rows = ultrafeedback_rows()
    DatasetDict({"train_prefs": Dataset.from_list(rows), "test_prefs": Dataset.from_list(rows[:1])}).save_to_disk(
        str(folder)
    )
    data = load_preference_data([folder])
    assert data.sources[0].split == "train_prefs" and data.sources[0].rows == 3
    assert data.notes == [f"{folder}: no split 'train'; using 'train_prefs'"]
    test = load_preference_data([folder], "test")
    assert test.sources[0].rows == 1 and "test_prefs" in test.notes[0]


def test_a_cloned_hub_folder_reads_only_its_split(tmp_path: Path) -> None:
    repo = tmp_path / "ultrafeedback_binarized"
    rows = ultrafeedback_rows()
    write_parquet(rows, repo / "data" / "train_prefs-00000-of-00001.parquet")
    write_parquet(rows[:1], repo / "data" / "test_prefs-00000-of-00001.parquet")
    write_parquet(rows[:2], repo / "data" / "train_sft-00000-of-00001.parquet")
    data = load_preference_data([repo])
    assert (data.sources[0].split, data.sources[0].rows) == ("train_prefs", 3)
