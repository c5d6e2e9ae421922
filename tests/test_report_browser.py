"""The report in a real browser: headless Chromium loads report.html from disk (offline), decodes every
embedded plot, and renders a page that is not blank. Skips when Chromium is not installed
(Debian: apt-get install chromium chromium-driver)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image

from selfimprove.report.html import write_comparison, write_report
from selfimprove.report.load import load_run, verdict_config
from selfimprove.report.sections import run_verdict

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (apt-get install chromium)"),
]

# Appended to a copy of the page under test (never to the report itself, which holds no script): after
# the load event, record how many <img> elements decoded to a real bitmap.
PROBE = """<script>
window.addEventListener('load', () => {
  const imgs = Array.from(document.images);
  document.body.dataset.images = imgs.length;
  document.body.dataset.decoded = imgs.filter(i => i.complete && i.naturalWidth > 100).length;
  document.body.dataset.overflow = document.documentElement.scrollWidth > window.innerWidth + 1;
});
</script>"""


def chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'chromium-profile'}", *args,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def rendered_dom(page: Path, tmp_path: Path) -> str:
    """The DOM after load, of a copy of `page` with the image probe added, in an 800 px wide window (wide
    tables must scroll inside their box, not widen the page)."""
    probe = tmp_path / f"probe-{page.name}"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    return chromium(tmp_path, "--window-size=800,3000", "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()).stdout


def body_data(dom: str) -> dict[str, str]:
    body = re.search(r"<body([^>]*)>", dom)
    assert body is not None, dom[:500]
    return dict(re.findall(r'data-(\w+)="([^"]*)"', body.group(1)))


def test_report_renders_in_chromium(micro_run_dir: Path, tmp_path: Path) -> None:
    report = write_report(micro_run_dir, tmp_path / "report.html")
    dom = rendered_dom(report, tmp_path)
    data = body_data(dom)
    assert data == {"images": "4", "decoded": "4", "overflow": "false"}
    run = load_run(micro_run_dir)
    verdict, _ = run_verdict(run.history, verdict_config(run))
    assert verdict is not None and verdict.summary.replace("'", "&#39;") in dom
    for section in ("Verdict", "Output diversity", "Improvement set (capability illusion)", "Sample browser"):
        assert f"<h2>{section}</h2>" in dom

    shot = tmp_path / "report.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,4000", report.as_uri())
    pixels = image.imread(shot)[..., :3]  # floats in [0, 1]
    assert pixels.shape[:2] == (4000, 1280)
    assert pixels.std() > 0.05  # not a blank page
    # matplotlib's first line colour (#1f77b4) is on screen: the plots were decoded and painted
    blue = np.abs(pixels - np.array([0x1F, 0x77, 0xB4]) / 255).max(axis=-1) < 0.08
    assert blue.sum() > 200


def test_comparison_renders_in_chromium(micro_run_dir: Path, tmp_path: Path) -> None:
    shorter = tmp_path / "micro-sft-1-iteration"
    shutil.copytree(micro_run_dir, shorter, ignore=shutil.ignore_patterns("model", "_trainer", "embeddings"))
    shutil.rmtree(shorter / "iter_002")
    page = write_comparison([micro_run_dir, shorter], tmp_path / "compare.html")
    dom = rendered_dom(page, tmp_path)
    assert body_data(dom) == {"images": "1", "decoded": "1", "overflow": "false"}
    assert "micro-sft-1-iteration" in dom and "<h2>Verdicts</h2>" in dom
