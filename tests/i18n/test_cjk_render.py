"""Chinese plotly figures render as Chinese in a browser (headless Chromium), not as empty boxes."""

from __future__ import annotations

import shutil
import subprocess

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _screenshot(html, png, tmp_path):
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--no-first-run",
                    f"--user-data-dir={tmp_path / 'chromium'}", f"--screenshot={png}", "--window-size=800,400",
                    "--virtual-time-budget=5000", html.as_uri()], check=True, capture_output=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="needs the Debian package chromium (headless screenshots)")
def test_chinese_titles_render_as_glyphs(tmp_path, monkeypatch):
    """Do two greenkit figures whose titles differ only in their Chinese characters look different on screen?

    With no CJK font (Debian: fonts-noto-cjk) every character is drawn as the same empty box, so the two
    screenshots would be identical: the test fails, naming the font package.
    """
    from PIL import Image, ImageChops

    from greenkit import plots

    class Result:  # the attributes plots.energy_per_inference reads
        def __init__(self, e):
            self.energy_j_per_inference, self.energy_j_ci95 = e, (0.9 * e, 1.1 * e)
            self.kind, self.backend = "estimated", "estimate"

    monkeypatch.setenv("GREENKIT_LANG", "zh_CN")
    images = []
    for i, title in enumerate(("能耗对比", "剪枝量化")):
        fig = plots.energy_per_inference({"基线": Result(2e-3)}, title=title)
        html, png = tmp_path / f"{i}.html", tmp_path / f"{i}.png"
        fig.write_html(html, include_plotlyjs=True, full_html=True)
        _screenshot(html, png, tmp_path)
        images.append(Image.open(png).convert("L").crop((0, 0, 400, 90)))  # the title's corner
    assert images[0].getextrema()[0] < 128, "no title drawn at all"
    assert ImageChops.difference(*images).getbbox() is not None, (
        "two different Chinese titles render identically: no CJK font (install fonts-noto-cjk)")
