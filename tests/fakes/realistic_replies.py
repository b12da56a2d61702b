"""Replies of realistic length for the fake LLM server's ``reply="realistic"`` mode.

A role-play turn in the prompt's language (Chinese when the system prompt has Chinese characters),
its length drawn from a lognormal per call: user turns about 25 words / 40 characters (median), the
character's turns and candidates about 55 words / 90 characters, with a long tail. The text is
drawn word by word from small banks, so it never loops, never repeats the context and passes the
simulator's cleaning. A refine request (``simulate --refine``) gets the JSON it asks for: usually
no fix, one time in ten one rewritten turn. Everything is a pure function of the request, so a
rerun gets the same answer (the cache and the resumed tasks line up).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
from typing import Any

_CJK = re.compile(r"[\u4e00-\u9fff]")
_LATIN = re.compile(r"[A-Za-z]+")

_EN_WORDS_TEXT = (
    "the a of to and in that it with as for was on be at by this had not are but from or have an they which one "
    "you were her all she there would their we him been has when who will more no if out so said what up its "
    "about into than them can only other new some could time these two may then do first any my now such like "
    "our over man me even most made after also did many before must through back years where much your way well "
    "down should because each just those people how too little state good very make world still own see men work "
    "long get here between both life being under never day same another know while last might us great old year "
    "off come since against go came right used take three himself few house use during without again place around "
    "however home small found thought went say part once general high upon school every does got united left "
    "number course war until always away something fact though water less public put think almost hand enough far "
    "took head yet government system better set told nothing night end why called didn't eyes find going look "
    "asked later knew point next program city business give group toward young days let room president side social "
    "given present several order national possible rather second face per among form important often things looked "
    "early white case john become large big need four within felt along children saw best church ever least power "
    "development light thing seemed family interest want members mind country area others done turned although "
    "open god service certainly kind problem began different door thus help sense means whole matter perhaps itself "
    "river harbour lantern winter letter garden music story sword ship friend promise quiet laugh careful storm"
)
EN_WORDS = _EN_WORDS_TEXT.split()
_ZH_WORDS_TEXT = (
    "今天 我们 一起 看看 这个 地方 其实 非常 喜欢 你的 想法 可是 还是 有点 担心 时候 已经 很久 没有 见过 这样 "
    "的人 如果 愿意 可以 告诉 我 那些 故事 以前 曾经 一个 朋友 说过 世界 很大 但是 心里 总是 记得 小时候 的事 "
    "外面 下雨 了 窗边 灯光 温暖 安静 慢慢 走过 街道 城市 夜晚 星星 月亮 海边 风声 轻轻 微笑 点头 回答 问题 "
    "为什么 后来 怎么样 真的 当然 也许 大概 一定 不会 应该 需要 帮忙 努力 坚持 勇敢 害怕 开心 难过 生气 惊讶 "
    "感动 相信 希望 梦想 未来 过去 现在 明天 昨天 晚上 早上 中午 时间 工作 学习 书本 音乐 电影 游戏 比赛 旅行 "
    "回家 路上 遇到 发现 秘密 答案 办法 计划 决定 选择 机会 经验 历史 传说 老师 学生 家人 姐姐 哥哥 师父 队长 "
    "船长 医生 画家 歌手 厨师 咖啡 蛋糕 茶水 花园 森林 山顶 河流 小镇 市场 剑 信件 钥匙 地图 礼物 约定 誓言"
)
ZH_WORDS = _ZH_WORDS_TEXT.split()
EN_ACTIONS = ("smiles", "leans closer", "laughs softly", "tilts my head", "taps the table", "looks out the window")
ZH_ACTIONS = ("笑了笑", "靠近了一些", "轻声笑着", "歪着头", "敲了敲桌子", "望向窗外")


def request_seed(model: str, messages: list[dict[str, Any]], extra: Any = None) -> int:
    """A seed that is a pure function of the request (model, messages and e.g. the sampling seed)."""
    blob = json.dumps([model, messages, extra], ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return int(hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16], 16)


def count_tokens(text: str) -> int:
    """Tokens as a tokenizer roughly counts them: one per Chinese character, one per other word."""
    cjk = len(_CJK.findall(text))
    return cjk + len(_CJK.sub(" ", text).split())


def _length(rng: random.Random, median: float, lo: int, hi: int) -> int:
    return max(lo, min(hi, round(median * math.exp(rng.gauss(0.0, 0.5)))))


def _english(rng: random.Random, words: int, action: bool) -> str:
    out: list[str] = []
    if action:
        out.append(f"*{rng.choice(EN_ACTIONS)}*")
    left = words
    while left > 0:
        n = min(left, rng.randint(6, 16))
        sentence = [rng.choice(EN_WORDS) for _ in range(n)]
        out.append(" ".join(sentence).capitalize() + rng.choice(".!?.."))
        left -= n
    return " ".join(out)


def _chinese(rng: random.Random, chars: int, action: bool) -> str:
    out: list[str] = []
    if action:
        out.append(f"*{rng.choice(ZH_ACTIONS)}*")
    left = chars
    while left > 0:
        sentence = ""
        target = min(left, rng.randint(8, 26))
        while len(sentence) < target:
            sentence += rng.choice(ZH_WORDS)
        out.append(sentence + rng.choice("。！？，。"))
        left -= len(sentence)
    return "".join(out).rstrip("，") + "。"


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(b.get("text", "") for b in content if isinstance(b, dict))
    return ""


def _refine(rng: random.Random, ask: str) -> str:
    """The refine pass's JSON: mostly nothing to fix, sometimes a rewrite of one turn."""
    if rng.random() >= 0.1:
        return json.dumps({"fixes": []})
    zh = "(zh)" in ask
    text = _chinese(rng, _length(rng, 60, 12, 200), False) if zh else _english(rng, _length(rng, 40, 8, 150), False)
    return json.dumps({"fixes": [{"index": 1, "text": text}]}, ensure_ascii=False)


def realistic_reply(model: str, messages: list[dict[str, Any]], system: str = "", extra: Any = None) -> str:
    """A reply to a simulate request: a user turn, a character turn/candidate, or the refine JSON."""
    rng = random.Random(request_seed(model, messages, extra))
    system = system or (_text(messages[0].get("content")) if messages and messages[0].get("role") == "system" else "")
    last = _text(messages[-1].get("content")) if messages else ""
    if last.startswith("You review role-play dialogues"):
        return _refine(rng, last)
    zh = "用中文" in system or ("in English" not in system and bool(_CJK.search(system)))
    user_side = "You are chatting with" in system or "你正在和" in system
    action = not user_side and rng.random() < 0.3
    if zh:
        return _chinese(rng, _length(rng, 40 if user_side else 90, 10, 600), action)
    return _english(rng, _length(rng, 25 if user_side else 55, 5, 400), action)
