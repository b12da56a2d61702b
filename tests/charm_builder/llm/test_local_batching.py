"""The local provider's dynamic batcher, on the tiny random Llama (SmolLM2's tokenizer and template):
concurrent requests for the same weights are decoded together and give the same text as
unbatched decoding (fp32), also when prompts share a prefix that is prefilled once; decoded text
never contains U+FFFD."""

from __future__ import annotations

import asyncio

import pytest

from charm_builder.llm import LLMClient, ModelSpec, Roster
from charm_builder.llm.providers import local
from charm_builder.llm.types import ChatParams
from tests.charm_builder.llm.helpers import CHAT_A, CHAT_B


@pytest.fixture(scope="module")
def chatty_llama(tiny_llama, tmp_path_factory):
    """Like ``tiny_llama`` but with larger random weights (std 0.3) and zeroed special-token
    embeddings: greedy decoding then writes prompt-dependent (random) words, not newlines."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(tiny_llama)
    cfg = LlamaConfig.from_pretrained(tiny_llama)
    cfg.initializer_range = 0.3
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg)
    with torch.no_grad():
        model.get_input_embeddings().weight[torch.tensor(tok.all_special_ids)] = 0.0
    path = tmp_path_factory.mktemp("chatty-llama")
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


def _fp32(folder) -> ModelSpec:
    return ModelSpec(name="x", provider="local", model=str(folder), precision="fp32")


def _roster(folder, **params) -> Roster:
    """Two entries ("variants") over the same weights, as in the offline roster."""
    common = {
        "provider": "local",
        "model": str(folder),
        "precision": "fp32",
        "concurrency": 4,
        "params": ChatParams(**params),
    }
    return Roster(name="tiny", models={"a": ModelSpec(name="a", **common), "b": ModelSpec(name="b", **common)})


def _greedy_generate(folder, messages, max_new: int) -> str:
    """Reference: transformers' own generate(), one request, greedy, fp32 (same trimming of a cut
    character / an unfinished sentence)."""
    import torch

    loaded = local.load(ModelSpec(name="ref", provider="local", model=str(folder), precision="fp32"))
    tok = loaded.tokenizer
    enc = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.inference_mode():
        out = loaded.model.generate(
            **enc,
            max_new_tokens=max_new,
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
            pad_token_id=tok.pad_token_id,
        )
    new = out[0][enc["input_ids"].shape[1] :].tolist()
    text = local.decode_reply(tok, new).strip()  # minus a cut character
    return text if new[-1] == tok.eos_token_id else local.trim_unfinished_sentence(text)  # cut by max_tokens


def test_two_concurrent_requests_share_one_batched_generation_and_match_greedy(chatty_llama, monkeypatch) -> None:
    monkeypatch.setattr(local, "BATCH_WINDOW_S", 0.5)  # a loaded CI machine must not split the pair
    roster = _roster(chatty_llama, temperature=0.0, max_tokens=12)

    async def go():
        async with LLMClient(roster) as client:
            return await asyncio.gather(client.chat("a", CHAT_A), client.chat("b", CHAT_B))

    batcher = local.load(roster.get("a")).batcher
    assert batcher is local.load(roster.get("b")).batcher  # variants share one model and one batcher
    before = len(batcher.batch_sizes)
    a, b = asyncio.run(go())
    assert batcher.batch_sizes[before:] == [2]  # one decode over both requests
    assert a.text == _greedy_generate(chatty_llama, CHAT_A, 12)
    assert b.text == _greedy_generate(chatty_llama, CHAT_B, 12)
    assert a.text and b.text and a.text != b.text  # real (random) words
    assert a.input_tokens != b.input_tokens  # different prompt lengths, left-padded together


PROFILE = (
    "You are Sherlock Holmes, the consulting detective of 221B Baker Street in London. You notice "
    "small details, play the violin when you think, and speak precisely. Dr Watson is your friend."
)
SHARED = [  # two candidates of one context (an instruction after the dialogue) and an unrelated chat
    [
        {"role": "system", "content": PROFILE},
        {"role": "user", "content": "Holmes, what do you see on my coat?"},
        {"role": "system", "content": "Reply vividly."},
    ],
    [
        {"role": "system", "content": PROFILE},
        {"role": "user", "content": "Holmes, what do you see on my coat?"},
        {"role": "system", "content": "Reply in one short sentence."},
    ],
    CHAT_A,
]


def test_a_shared_prompt_prefix_is_prefilled_once_and_changes_no_text(chatty_llama, monkeypatch) -> None:
    from charm_builder.llm.providers import local_decode

    loaded = local.load(_fp32(chatty_llama))
    tok = loaded.tokenizer
    prompts = [
        list(tok.apply_chat_template(m, add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"])
        for m in SHARED
    ]
    groups = local_decode.group_by_prefix(prompts)
    shared = next(n for n, members in groups if sorted(members) == [0, 1])
    assert shared >= local_decode.MIN_SHARED_PREFIX and [members for _, members in groups if 2 in members] == [[2]]
    assert shared == next(i for i, (a, b) in enumerate(zip(*prompts[:2], strict=False)) if a != b)

    seen_widths = []
    forward = type(loaded.model).forward

    def spy(self, input_ids=None, **kwargs):
        seen_widths.append(tuple(input_ids.shape))
        return forward(self, input_ids=input_ids, **kwargs)

    monkeypatch.setattr(type(loaded.model), "forward", spy)
    together = local.decode(loaded, [(m, ChatParams(temperature=0.0, max_tokens=8)) for m in SHARED])
    assert seen_widths[0][0] == 2  # pass 1: one row per group
    prefix_of = {i: n for n, members in groups for i in members}
    assert seen_widths[1] == (3, max(len(p) - prefix_of[i] for i, p in enumerate(prompts)))  # pass 2: suffixes
    monkeypatch.undo()
    assert [r.text for r in together] == [_greedy_generate(chatty_llama, m, 8) for m in SHARED]


def test_sharing_is_dropped_when_padding_would_cost_more() -> None:
    from charm_builder.llm.providers import local_decode

    head = list(range(1000, 1170))  # two prompts share their first half (170 of 340 tokens)
    pair = [[*head, *range(3000, 3170)], [*head, *range(4000, 4170)]]
    assert local_decode.group_by_prefix(pair) == [(170, [0, 1])]
    # a third, unrelated 340-token prompt: pass 1 would be 2 x 339 wide and pass 2 3 x 170 (1,188
    # positions) against 3 x 339 + 3 x 1 (1,020) without sharing
    groups = local_decode.group_by_prefix([*pair, list(range(2000, 2340))])
    assert sorted(m for _, m in groups) == [[0], [1], [2]]
    assert local_decode.padded_tokens([*pair, list(range(2000, 2340))], groups) == 1020


def test_nucleus_keeps_the_smallest_top_set_reaching_top_p(monkeypatch) -> None:
    import torch

    from charm_builder.llm.providers import local_decode

    torch.manual_seed(0)
    peaked = torch.softmax(torch.randn(3, 5000) * 4, dim=-1)
    flat = torch.full((1, 5000), 1 / 5000)  # its nucleus is larger than the top-k window: full sort
    for probs, top_p in ((peaked, torch.tensor([[0.5], [0.9], [0.99]])), (flat, torch.tensor([[0.9]]))):
        weights, ids = local_decode.nucleus(probs, top_p)
        for row in range(probs.shape[0]):
            kept = ids[row][weights[row] > 0]
            ranked = torch.sort(probs[row], descending=True)
            need = int((torch.cumsum(ranked.values, 0) < top_p[row]).sum()) + 1  # smallest set reaching top_p
            assert set(kept.tolist()) == set(ranked.indices[:need].tolist())
    assert local_decode.nucleus(flat, torch.tensor([[0.9]]))[0].shape[-1] == 5000
    assert local_decode.nucleus(peaked[:1], torch.tensor([[0.5]]))[0].shape[-1] == local_decode.NUCLEUS_TOP_K


def test_per_row_sampling_params_are_honoured_inside_a_batch(chatty_llama) -> None:
    loaded = local.load(_fp32(chatty_llama))
    sampled = ChatParams(temperature=1.0, top_p=0.9, seed=7, max_tokens=10, repetition_penalty=1.3)
    greedy = ChatParams(temperature=0.0, max_tokens=4)
    together = local.decode(loaded, [(CHAT_B, sampled), (CHAT_A, greedy)])
    alone = [local.decode(loaded, [(CHAT_B, sampled)])[0], local.decode(loaded, [(CHAT_A, greedy)])[0]]
    assert [r.text for r in together] == [r.text for r in alone]  # a row's seed and settings are its own
    assert together[1].output_tokens <= 4 < together[0].output_tokens <= 10
    other_seed = local.decode(loaded, [(CHAT_B, sampled.model_copy(update={"seed": 8}))])[0]
    assert other_seed.text != together[0].text


def test_errors_reach_every_request_of_the_batch(chatty_llama, monkeypatch) -> None:
    loaded = local.load(_fp32(chatty_llama))
    monkeypatch.setattr(local, "BATCH_WINDOW_S", 0.2)
    bad = [{"role": "user", "content": "hi"}] * 0  # an empty chat: the template renders no prompt
    futures = [loaded.batcher.submit(bad, ChatParams(max_tokens=2)), loaded.batcher.submit(bad, ChatParams())]
    for future in futures:
        with pytest.raises(Exception):  # noqa: B017 - whatever transformers raises, both callers get it
            future.result(timeout=60)


def test_decoded_text_never_ends_in_a_cut_character(chatty_llama) -> None:
    tok = local.load(_fp32(chatty_llama)).tokenizer
    text = "守塔人说：今晚的海风很大。"
    ids = tok.encode(text, add_special_tokens=False)
    raw = [tok.decode(ids[:k]) for k in range(1, len(ids) + 1)]
    assert any(r.endswith("\ufffd") for r in raw)  # byte-level BPE: some prefixes cut a character
    for k in range(1, len(ids) + 1):
        out = local.decode_reply(tok, ids[:k])
        assert "\ufffd" not in out and text.startswith(out)
    assert local.decode_reply(tok, ids) == text


def test_reply_cut_by_max_tokens_keeps_its_finished_sentences() -> None:
    assert local.trim_unfinished_sentence("I am here. You are there! And then the") == "I am here. You are there!"
    assert local.trim_unfinished_sentence("他来了。她也来了！然后我们") == "他来了。她也来了！"
    assert local.trim_unfinished_sentence("No sentence ends here") == "No sentence ends here"
    assert local.trim_unfinished_sentence("Hi. " + "and a long tail " * 5) == ("Hi. " + "and a long tail " * 5).strip()


def test_unload_all_ends_the_batcher_threads_and_a_later_request_loads_again(chatty_llama) -> None:
    import threading

    first = local.load(_fp32(chatty_llama))
    assert first.batcher is not None
    first.batcher.submit(CHAT_A, ChatParams(temperature=0.0, max_tokens=2)).result(timeout=60)
    local.unload_all()
    assert not any(t.name == "charm-local-batcher" and t.is_alive() for t in threading.enumerate())
    with pytest.raises(RuntimeError, match="unloaded"):
        first.batcher.submit(CHAT_A, ChatParams(max_tokens=2))
    again = local.load(_fp32(chatty_llama))
    assert again is not first
    assert again.batcher.submit(CHAT_A, ChatParams(temperature=0.0, max_tokens=2)).result(timeout=60).text is not None
