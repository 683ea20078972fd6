"""Every string the wizard shows, in English and Simplified Chinese, in one place."""

from __future__ import annotations

import locale
import os

STRINGS = {
    "en": {
        "quit": "Quit",
        "refresh": "Refresh",
        "welcome_title": "丹炉 danlu — fine-tune a chat model on one GPU",
        "welcome_body": "From “I have a GPU and some data” to chatting with your fine-tuned model and exporting it.",
        "new_finetune": "New fine-tune",
        "quickstart_cli": "Run the offline demo end to end (danlu quickstart)",
        "runs_on_disk": "Runs on disk ({root})",
        "col_run": "Run", "col_state": "State", "col_method": "Method", "col_step": "Step", "col_loss": "Loss",
        "no_runs": "no runs yet",
        "coming_soon": "The guided steps arrive with the wizard; meanwhile `danlu quickstart` runs the whole job.",
        "quickstart_hint": "Quit (q) and run `danlu quickstart` — or `danlu quickstart --help` for options.",
    },
    "zh": {
        "quit": "退出",
        "refresh": "刷新",
        "welcome_title": "丹炉 danlu —— 单卡微调对话模型",
        "welcome_body": "从“我有一张显卡和一些数据”到与微调后的模型对话并导出。",
        "new_finetune": "新建微调",
        "quickstart_cli": "离线演示：一键跑完全流程（danlu quickstart）",
        "runs_on_disk": "磁盘上的训练（{root}）",
        "col_run": "训练", "col_state": "状态", "col_method": "方法", "col_step": "步数", "col_loss": "损失",
        "no_runs": "还没有训练",
        "coming_soon": "向导的各个步骤即将推出；现在可以用 `danlu quickstart` 跑完全流程。",
        "quickstart_hint": "按 q 退出后运行 `danlu quickstart`，或 `danlu quickstart --help` 查看选项。",
    },
}

_lang = None


def detect_lang() -> str:
    for var in ("DANLU_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var)
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    try:
        loc = locale.getlocale()[0] or ""
    except ValueError:
        loc = ""
    return "zh" if loc.lower().startswith("zh") else "en"


def set_lang(lang: str | None) -> None:
    global _lang
    _lang = lang if lang in STRINGS else detect_lang()


def t(key: str, **kw) -> str:
    lang = _lang or detect_lang()
    text = STRINGS[lang].get(key) or STRINGS["en"][key]
    return text.format(**kw) if kw else text
