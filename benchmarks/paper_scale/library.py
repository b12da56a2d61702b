"""The library at the paper's size: 1,108 characters over the 13 sub-categories, 230 user personas, scenes.

Published Charm role/user files (calubkk/AAM: ``roleplayeval_roles.json``, 160 roles;
``Charm-PreferenceTraining/users.json``, 230 users) are used first when given, trimmed to the target
in their own format; the rest is generated: bilingual, deterministic (seeded by index), profiles and
prompts of realistic length. Everything is written as files that ``charm-build import`` reads, so the
stage measures what a user's import does.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from schemas import SUB_CATEGORIES

PAPER_CHARACTERS = 1108
PAPER_USERS = 230
SCENES_PER_CHARACTER = 0.1  # generic scenes, in addition to the bundled ones

_ZH_SURNAMES = "李王张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段"
_ZH_GIVEN = "星河云海月明清风雨晴雪松竹梅兰晨曦夜语天宇思远若水安宁嘉怡子墨书瑶景行知秋灵犀"
_EN_FIRST_TEXT = (
    "Ada Alan Aria Ben Cara Dale Eli Emma Finn Gwen Hugo Iris Jack Juno Kai Lena Leo Lily Mara Max Nina Noah "
    "Olive Owen Pia Quinn Rosa Ryan Sage Sam Tara Theo Uma Vera Wade Xena Yara Zane"
)
_EN_FIRST = _EN_FIRST_TEXT.split()
_EN_LAST_TEXT = (
    "Ashford Blake Carver Dalton Ellis Frost Grey Hale Irving Jensen Keller Lane Monroe Nash Oakley Pierce "
    "Quill Reyes Sloane Thorne Vance Walsh York"
)
_EN_LAST = _EN_LAST_TEXT.split()
_TRAITS = [
    ("乐观开朗，说话风趣", "cheerful and witty"),
    ("沉默寡言，但心思细腻", "quiet but perceptive"),
    ("骄傲自负，却重情重义", "proud yet fiercely loyal"),
    ("温柔体贴，喜欢照顾别人", "gentle and caring"),
    ("冷静理智，凡事讲证据", "calm and rational, always asking for evidence"),
    ("冲动热血，先行动后思考", "hot-blooded, acting first and thinking later"),
    ("古灵精怪，爱开玩笑", "mischievous and fond of jokes"),
    ("严肃认真，一丝不苟", "serious and meticulous"),
]
_ROLES = {
    "anime": ("动画《{w}》的主角", "the hero of the anime {w}"),
    "comics": ("漫画《{w}》里的人物", "a figure from the comic {w}"),
    "novels": ("小说《{w}》中的角色", "a character of the novel {w}"),
    "films": ("电影《{w}》的主人公", "the lead of the film {w}"),
    "tv": ("电视剧《{w}》的角色", "a character of the TV series {w}"),
    "games": ("游戏《{w}》中的角色", "a character of the game {w}"),
    "mythology": ("神话《{w}》里的神祇", "a deity of the myth {w}"),
    "scientists": ("研究{w}的科学家", "a scientist who studies {w}"),
    "musicians": ("以专辑《{w}》成名的音乐人", "a musician known for the album {w}"),
    "actors": ("因《{w}》走红的演员", "an actor famous for {w}"),
    "historical": ("{w}时代的历史人物", "a historical figure of the {w} era"),
    "athletes": ("在{w}项目上夺冠的运动员", "an athlete who won at {w}"),
    "custom": ("用户原创的角色，来自《{w}》", "an original character from {w}"),
}
_WORKS = [
    ("星港少年", "Starport Boys"),
    ("雾都来信", "Letters from the Fog City"),
    ("长河落日", "Sunset on the Long River"),
    ("机械之心", "Heart of Gears"),
    ("风起青萍", "Wind in the Duckweed"),
    ("深海回声", "Echoes of the Deep"),
    ("北境守望", "Watch of the North"),
    ("量子花园", "The Quantum Garden"),
    ("山城旧事", "Old Tales of the Hill Town"),
    ("银河列车", "The Galaxy Express"),
    ("青铜时代", "The Bronze Age"),
    ("午夜电台", "Midnight Radio"),
]
_USER_KINDS = [
    ("一名好奇的大学生，爱追问细节", "a curious university student who digs into details"),
    ("一位疲惫的上班族，想找人聊聊天", "a tired office worker who wants someone to talk to"),
    ("一个喜欢挑刺的杠精，总能找到角度反驳", "a contrarian who finds an angle to disagree with anything"),
    ("一位退休教师，说话慢条斯理", "a retired teacher who speaks slowly and carefully"),
    ("一个十几岁的粉丝，热情又冲动", "an excited teenage fan"),
    ("一位作家，正在为新书收集素材", "a writer collecting material for a new book"),
    ("一个害羞的人，说话简短", "a shy person who answers briefly"),
    ("一位游戏主播，喜欢调侃", "a game streamer who loves to tease"),
]


def _pick(rng: random.Random, pool: str, n: int) -> str:
    return "".join(rng.choice(pool) for _ in range(n))


def character(index: int) -> dict:
    """Generated character ``index`` (a native-format record): bilingual, unique name and source."""
    rng = random.Random(1_000_003 * index + 17)
    sub = list(SUB_CATEGORIES)[index % len(SUB_CATEGORIES)]
    zh_name = _pick(rng, _ZH_SURNAMES, 1) + _pick(rng, _ZH_GIVEN, 2) + f"{index:04d}号"
    en_name = f"{rng.choice(_EN_FIRST)} {rng.choice(_EN_LAST)} {index:04d}"
    work_zh, work_en = _WORKS[rng.randrange(len(_WORKS))]
    role_zh, role_en = (t.format(w=w) for t, w in zip(_ROLES[sub], (work_zh, work_en), strict=True))
    trait_zh, trait_en = rng.choice(_TRAITS)
    trait2_zh, trait2_en = rng.choice(_TRAITS)
    profile_zh = (
        f"{zh_name}是{role_zh}。{trait_zh}，同时也{trait2_zh}。在故事里，{zh_name}经历过一次改变命运的离别，"
        f"从此把守护身边的人当作自己的责任。熟悉{work_zh}世界里的每一条街道和每一个传说，"
        "却对外面的世界知之甚少。说话时喜欢用比喻，紧张时会下意识地摸一摸随身携带的旧物。"
    )
    profile_en = (
        f"{en_name} is {role_en}: {trait_en}, and also {trait2_en}. In the story, {en_name} went through a "
        f"parting that changed everything and has since made protecting others a personal duty. "
        f"{en_name} knows every street and legend of the world of {work_en} but little of the world beyond, "
        "speaks in metaphors and, when nervous, touches an old keepsake without thinking."
    )
    return {
        "name": {"zh": zh_name, "en": en_name},
        "sub_category": sub,
        "source": {"zh": work_zh, "en": work_en},
        "description": {"zh": f"{role_zh}，{trait_zh}。", "en": f"{role_en[0].upper()}{role_en[1:]}, {trait_en}."},
        "profile": {"zh": profile_zh, "en": profile_en},
        "system_prompt": {
            "zh": f"你是{zh_name}，{role_zh}。{profile_zh}请始终保持角色，以{zh_name}的身份、记忆和口吻说话，"
            "不要跳出角色，绝不要说自己是AI。",
            "en": f"You are {en_name}, {role_en}. {profile_en} Stay in character: speak as {en_name}, with their "
            "memories and voice, and never say you are an AI.",
        },
    }


def user(index: int) -> dict:
    """Generated user persona ``index``."""
    rng = random.Random(7_000_003 * index + 5)
    kind_zh, kind_en = rng.choice(_USER_KINDS)
    age = rng.randint(16, 70)
    return {
        "name": f"bench_user_{index:04d}",
        "prompt": {
            "zh": f"你是{kind_zh}，今年{age}岁。你说话自然，会根据对方的回答追问或转移话题。",
            "en": f"You are {kind_en}, aged {age}. You talk naturally and follow up or change the subject "
            "depending on the answers you get.",
        },
        "tags": ["generated"],
    }


def scene(index: int) -> dict:
    """Generated generic scene ``index`` (any character)."""
    rng = random.Random(3_000_017 * index + 11)
    work_zh, work_en = _WORKS[rng.randrange(len(_WORKS))]
    return {
        "title": {"zh": f"{work_zh}里的第{index}个夜晚", "en": f"Night {index} in {work_en}"},
        "description": {
            "zh": f"在《{work_zh}》的世界里，一个安静的夜晚，你们在路边的小店偶然相遇，外面下着雨。",
            "en": f"A quiet night in the world of {work_en}: you meet by chance in a small roadside shop "
            "while it rains outside.",
        },
    }


def _trimmed_json(source: Path, target: Path, keep: int) -> int:
    """Copy the first ``keep`` records of a published Charm file (a JSON object) into ``target``."""
    data = json.loads(source.read_text(encoding="utf-8"))
    kept = dict(list(data.items())[:keep])
    target.write_text(json.dumps(kept, ensure_ascii=False), encoding="utf-8")
    return len(kept)


def _jsonl(path: Path, records: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


def write_library(
    folder: Path, scale: float, roles_file: Path | None = None, users_file: Path | None = None
) -> tuple[list[Path], dict[str, int]]:
    """Files to import for ``scale`` (1.0: 1,108 characters and 230 users) and how many records of each
    kind they hold (``from_files``: taken from the published files)."""
    folder.mkdir(parents=True, exist_ok=True)
    n_chars = max(len(SUB_CATEGORIES), round(PAPER_CHARACTERS * scale))
    n_users = max(4, round(PAPER_USERS * scale))
    files: list[Path] = []
    published_chars = published_users = 0
    if roles_file is not None:
        files.append(folder / "charm-roles.json")
        published_chars = _trimmed_json(roles_file, files[-1], n_chars)
    if users_file is not None:
        files.append(folder / "charm-users.json")
        published_users = _trimmed_json(users_file, files[-1], n_users)
    generated = {
        "characters.jsonl": [character(i) for i in range(n_chars - published_chars)],
        "users.jsonl": [user(i) for i in range(n_users - published_users)],
        "scenes.jsonl": [scene(i) for i in range(max(1, round(n_chars * SCENES_PER_CHARACTER)))],
    }
    for name, records in generated.items():
        if records:
            _jsonl(folder / name, records)
            files.append(folder / name)
    counts = {
        "characters": n_chars,
        "users": n_users,
        "scenes": len(generated["scenes.jsonl"]),
        "from_files": published_chars + published_users,
    }
    return files, counts
