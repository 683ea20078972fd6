"""Line breaking for Chinese (tui/linebreak.py): where Rich and Textual may end a wrapped line."""

from __future__ import annotations

import pytest
from rich.console import Console
from rich.text import Text

from danlu.tui import linebreak


def wrapped(text: str, width: int) -> list[str]:
    linebreak.install()
    return [str(line).rstrip() for line in Text(text).wrap(Console(), width)]


@pytest.mark.parametrize("text, width, lines", [
    # a Chinese sentence fills the line, then goes on: it is not moved whole after the last space
    ("本机适配（通用助手，方法 auto，尚未读取数据；方案步骤按数据确定序列长度）", 32,
     ["本机适配（通用助手，方法 auto，", "尚未读取数据；方案步骤按数据确定", "序列长度）"]),
    # closing punctuation stays with the character before it, opening with the one after
    ("一二三四五六七八九，十", 18, ["一二三四五六七八", "九，十"]),
    ("一二三四五六七（八九）", 16, ["一二三四五六七", "（八九）"]),
    # a number keeps its unit, a legend's mark its label
    ("模型用了 10.1 GB 内存", 12, ["模型用了", "10.1 GB 内存"]),
    ("共 137 步，用时 284 秒", 12, ["共 137 步，", "用时 284 秒"]),
    ("■ 权重 1.2 GB ■ 梯度 0.3 GB", 14, ["■ 权重 1.2 GB", "■ 梯度 0.3 GB"]),
    # a phrase joined by no-break spaces (the memory legend's items) is never split
    ("■\u00a0权重\u00a00.50  ■\u00a0优化器\u00a00.04", 16, ["■\u00a0权重\u00a00.50", "■\u00a0优化器\u00a00.04"]),
    # English wraps as before
    ("Hello world this is English text that wraps.", 20, ["Hello world this is", "English text that", "wraps."]),
])
def test_lines_break_where_a_reader_expects(text, width, lines):
    assert wrapped(text, width) == lines


def test_every_character_is_kept_in_order():
    text = "■ 显存 22.95/23.54 GB 可用；训练结束（已完成），共 137 步。Done after 10 steps in 196 s."
    for width in range(4, 40):
        assert "".join(str(line) for line in Text(text).wrap(Console(), width)).replace(" ", "") == \
            text.replace(" ", ""), width
