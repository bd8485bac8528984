"""report: one self-contained HTML file with every section of DESIGN.md §6, filled from real runs, that
headless Chromium renders; and the Markdown variant with its PNGs beside it."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from pymace.tools import benchmark, report, validate

CHROMIUM = Path("/usr/bin/chromium")
SECTIONS = ["overview", "binary", "workflow", "performance", "troubleshooting"]


@pytest.fixture(scope="module")
def measured(small_pmace, storage):
    bench = json.loads(json.dumps(benchmark.benchmark(small_pmace, runs=5, warmup=1, storage_dir=storage)))
    return bench, json.loads(json.dumps(validate.validate(small_pmace, storage_dir=storage)))


@pytest.fixture(scope="module")
def html_report(small_pmace, storage, measured, tmp_path_factory) -> Path:
    bench, valid = measured
    out = tmp_path_factory.mktemp("report") / "report.html"
    return report.write_report(small_pmace, out, storage_dir=storage, bench=bench, valid=valid,
                               commands=["pymace report small.pmace"])


def test_html_is_self_contained_with_every_section(html_report, measured):
    text = html_report.read_text()
    for anchor in SECTIONS:
        assert f"<section id='{anchor}'>" in text
    assert len(re.findall(r"<img [^>]*src='data:image/png;base64,", text)) == 3
    assert not re.search(r"(src|href)=['\"]?(https?:)?//", text)  # nothing fetched
    bench, valid = measured
    assert bench["device"]["name"] in text and "mace_cl_compiled_program.bin" in text
    assert "the cache covers every program" in text  # the benchmark's engine filled the storage dir
    assert f"{bench['init']['cold']['init_seconds'] * 1e3:.1f}" in text
    assert "PASS vs numpy" in text and "pymace report small.pmace" in text
    assert "Device dependency" in text


def test_report_names_a_device_mismatch(small_pmace, storage, measured, tmp_path):
    """An entry built for another driver shows up in troubleshooting with the reason pymace records."""
    from pymace.runtime.program_cache import DeviceRecord, ProgramCache

    bench, valid = measured
    d = bench["device"]
    other = DeviceRecord(d["name"], d["vendor"], "0.0-old", d["platform_name"], d["platform_version"],
                         d["opencl_c_version"])
    cache = ProgramCache(storage, other)
    cache.store("unary", "0" * 64, "-DACT=1", b"old binary")
    assert cache.save()
    text = report.write_report(small_pmace, tmp_path / "r.html", storage_dir=storage, bench=bench,
                               valid=valid).read_text()
    assert "driver 0.0-old → " + d["driver_version"] in text


def test_markdown_writes_pngs_beside(small_pmace, storage, measured, tmp_path):
    bench, valid = measured
    out = report.write_report(small_pmace, tmp_path / "r.md", fmt="md", storage_dir=storage, bench=bench,
                              valid=valid)
    text = out.read_text()
    for name in ("init", "latency", "ops"):
        png = tmp_path / f"r-{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"]({png.name})" in text
    assert text.count("\n## ") == 5


def test_measures_when_not_given(small_pmace, storage, tmp_path):
    out = report.write_report(small_pmace, tmp_path / "r.html", runs=3, storage_dir=storage)
    assert "<section id='performance'>" in out.read_text()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is absent (make setup installs it)")
def test_chromium_renders_sections_and_images(html_report, tmp_path):
    flags = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'p'}"]
    shot = tmp_path / "shot.png"
    subprocess.run(flags + [f"--screenshot={shot}", "--window-size=1280,4000", html_report.as_uri()],
                   capture_output=True, timeout=120, check=True)
    import matplotlib.image

    pixels = matplotlib.image.imread(str(shot))
    assert pixels.shape[:2] == (4000, 1280)
    assert (pixels[:, :, :3] < 0.5).any(axis=2).mean() > 0.01  # text and plots, not a blank page
    dom = subprocess.run(flags + ["--dump-dom", html_report.as_uri()], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert all(f'id="{a}"' in dom for a in SECTIONS) and dom.count("<img") == 3


@pytest.mark.slow
def test_demo_classifies_chelsea_and_writes_the_report(tmp_path):
    """The real job: MobileNetV2 from the zoo (fetched once into the user cache), on the default device."""
    import io

    from rich.console import Console

    from pymace.tools import demo

    console = Console(file=io.StringIO(), width=160)
    result = json.loads(json.dumps(demo.demo(out_dir=str(tmp_path), console=console, runs=3)))
    assert result["top5"][0]["class"] == 285 and result["top5"][0]["label"] == "Egyptian cat"
    assert result["top5"][0]["probability"] == pytest.approx(0.758, abs=0.01)
    assert result["validation_passed"] and Path(result["report"]).exists()
    printed = console.file.getvalue()
    assert "Egyptian cat" in printed and "warm" in printed and "pymace-report.html" in printed
