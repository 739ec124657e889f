"""greenkit's messages follow GREENKIT_LANG or the locale; the zh_CN catalogue is complete."""

from __future__ import annotations

import pytest

from greenkit import i18n
from greenkit.i18n import _, messages

LOCALE_VARS = ("GREENKIT_LANG", "LC_ALL", "LC_MESSAGES", "LANG")


@pytest.fixture
def env(monkeypatch):
    for var in LOCALE_VARS:
        monkeypatch.delenv(var, raising=False)
    i18n.set_language(None)
    yield monkeypatch
    i18n.set_language(None)


@pytest.mark.parametrize("value, lang", [
    ("zh_CN.UTF-8", "zh_CN"), ("zh_CN", "zh_CN"), ("zh-CN", "zh_CN"), ("zh", "zh_CN"), ("zh_SG.utf8", "zh_CN"),
    ("zh_Hans_CN", "zh_CN"), ("zh_TW.UTF-8", "en"), ("en_US.UTF-8", "en"), ("C.UTF-8", "en"), ("", "en"),
])
def test_normalize(value, lang):
    """Is every spelling of a Simplified-Chinese locale read as zh_CN, and Traditional or other ones as English?"""
    assert i18n.normalize(value) == lang


def test_language_order(env):
    """Does GREENKIT_LANG beat LC_ALL, LC_ALL beat LC_MESSAGES, LC_MESSAGES beat LANG, as in gettext?"""
    assert i18n.language() == "en"
    env.setenv("LANG", "zh_CN.UTF-8")
    assert i18n.language() == "zh_CN"
    env.setenv("LC_MESSAGES", "en_GB.UTF-8")
    assert i18n.language() == "en"
    env.setenv("LC_ALL", "zh_CN.UTF-8")
    assert i18n.language() == "zh_CN"
    env.setenv("GREENKIT_LANG", "en")
    assert i18n.language() == "en"
    i18n.set_language("zh_CN")  # what a Chinese lab's first cell does
    assert i18n.language() == "zh_CN"


def test_unknown_language_is_refused(env):
    """Is set_language('fr') refused with the languages there are, instead of silently showing English?"""
    with pytest.raises(ValueError, match="zh_CN"):
        i18n.set_language("fr_FR")


def test_translation_and_fallback(env):
    """Is a catalogued message shown in Chinese, and a message with no translation shown in English?"""
    env.setenv("GREENKIT_LANG", "zh_CN")
    assert _("power (W)") == "功率 (W)"
    assert _("a message nobody translated") == "a message nobody translated"
    env.setenv("GREENKIT_LANG", "en")
    assert _("power (W)") == "power (W)"


def test_messages_catalogue_is_complete():
    """Does every _("...") in the package have a current zh_CN translation keeping its {placeholders}?
    (Fix: `python -m greenkit.i18n messages`, then translate greenkit/i18n/messages/zh_CN.po.)"""
    st = messages.status("zh_CN")
    assert st.messages > 0
    assert not st.problems, "\n".join(st.problems)


def test_plot_titles_follow_the_language(env):
    """Does a greenkit figure get Chinese title and axes (units kept) and a CJK font under zh_CN?"""
    import torch

    from greenkit import plots
    from greenkit.energy import measure_inference

    r = measure_inference(torch.nn.Linear(8, 2), torch.randn(16, 8), backend="estimate", windows=6)
    env.setenv("GREENKIT_LANG", "zh_CN")
    fig = plots.energy_per_inference({"基线": r})
    assert fig.layout.title.text.startswith("每次推理的能耗") and "估算值" in fig.layout.title.text
    assert fig.layout.yaxis.title.text == "每次推理的能耗 (J)"
    assert "Noto Sans CJK SC" in fig.layout.font.family
    env.setenv("GREENKIT_LANG", "en")
    assert plots.energy_per_inference({"baseline": r}).layout.yaxis.title.text == "energy per inference (J)"
