"""`LANG=zh_CN.UTF-8 greenkit doctor` and a failing report card speak Chinese; English stays English."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from greenkit import i18n


def _doctor(**env_vars) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("GREENKIT_LANG", "LC_ALL", "LC_MESSAGES", "LANG")}
    env.update(env_vars)
    proc = subprocess.run([sys.executable, "-m", "greenkit", "doctor"], capture_output=True, text=True,
                          env=env, timeout=300, check=True)
    return proc.stdout


def test_doctor_in_chinese_under_a_chinese_locale():
    """Does `LANG=zh_CN.UTF-8 greenkit doctor` print its verdict in Chinese, and `LANG=C.UTF-8` in English?"""
    zh = _doctor(LANG="zh_CN.UTF-8")
    assert "greenkit doctor：本机的能耗来源" in zh and "各实验将使用：" in zh, zh
    en = _doctor(LANG="C.UTF-8")
    assert "energy sources on this machine" in en and "Labs will use:" in en and "能耗" not in en


@pytest.fixture
def zh(monkeypatch):
    monkeypatch.setenv("GREENKIT_LANG", "zh_CN")
    i18n.set_language(None)
    yield
    i18n.set_language(None)


def _failing_report():
    from greenkit.targets.report import Report, TargetResult

    return Report(lab="lab02_pruning", title="Lab 2: Pruning", verified_by="fresh process pid 1", results=[
        TargetResult(id="accuracy", kind="accuracy_min", artefact="pruned", threshold=0.9, op="min", weight=1,
                     status="pass", value=0.91, method="measured", how="3,000 held-out images"),
        TargetResult(id="sparsity", kind="sparsity_min", artefact="pruned", threshold=0.9, op="min", weight=1,
                     status="fail", value=0.5, method="counted", how="zero weights / all weights"),
        TargetResult(id="energy", kind="energy_ratio_max", artefact="pruned", threshold=0.8, op="max", weight=1,
                     status="error", method="measured", reason="not evaluated")])


def test_failing_report_card_in_chinese(zh):
    """Does a failing report card render its title, columns, verdicts and footer in Chinese, with the
    columns still aligned (CJK characters are two columns wide)?"""
    from greenkit.targets.report import _width

    text = str(_failing_report())
    assert text.splitlines()[0] == "实验 2：剪枝（lab02_pruning）成绩单"
    assert "未通过" in text and "出错" in text and "3 项目标中通过 1 项" in text and "实测" in text
    rows = text.splitlines()[1:5]
    verdicts = (r"结果", r"(?<!未)通过", r"未通过", r"出错")  # the header, then pass / fail / error
    verdict_at = {_width(row[: re.search(v, row).start()]) for row, v in zip(rows, verdicts, strict=True)}
    assert len(verdict_at) == 1, f"the verdict column is not aligned:\n{text}"
    html = _failing_report()._repr_html_()
    assert "成绩单" in html and "未通过" in html and "#cf222e" in html


def test_report_card_in_english_by_default(monkeypatch):
    """Is the same report card English when no Chinese is asked for?"""
    monkeypatch.setenv("GREENKIT_LANG", "en")
    text = str(_failing_report())
    assert text.startswith("Lab 2: Pruning (lab02_pruning) report card") and "FAIL" in text


def test_rapl_advice_in_chinese_keeps_the_commands(zh, tmp_path):
    """Under zh_CN, is RAPL's diagnosis Chinese while every command it gives stays exactly the English one?"""
    from greenkit.energy.rapl import RaplBackend, permission_fix

    av = RaplBackend(tmp_path / "powercap").availability()
    assert "不存在" in av.reason and "sudo modprobe intel_rapl_msr" in av.fix[0]
    fixes = permission_fix()
    assert fixes[0].startswith("一次性设置") and "sudo chmod o+r /sys/class/powercap/intel-rapl:*/energy_uj" in fixes[0]
    assert "sudo tee /etc/udev/rules.d/99-greenkit-rapl.rules" in fixes[1] and "GREENKIT_BACKEND=estimate" in fixes[4]
