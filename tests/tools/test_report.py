"""report: one self-contained HTML file that opens on a summary card and holds every section of DESIGN.md §6
(plus the environment and tuning), filled from real runs, that headless Chromium renders; and the Markdown
variant with its PNGs beside it, chosen by -o's extension."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from pymace.tools import benchmark, report, validate

CHROMIUM = Path("/usr/bin/chromium")
SECTIONS = ["overview", "binary", "workflow", "performance", "tuning", "troubleshooting"]


@pytest.fixture(scope="module")
def measured(small_pmace, storage):
    bench = json.loads(json.dumps(benchmark.benchmark(small_pmace, runs=5, warmup=1, storage_dir=storage)))
    return bench, json.loads(json.dumps(validate.validate(small_pmace, "numpy", storage_dir=storage)))


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
    assert text.index("id='summary'") < text.index("<section")  # the summary comes first
    for fact in ("latency p50", "init cold → warm", "time to first result", "pyopencl", "Python", "OS", "host"):
        assert f"<dt>{fact}</dt>" in text, fact
    assert f"--device {bench['device']['selector']}" in text  # the resolved device, not "auto"
    assert "<details><summary>3 programs and their build options</summary>" in text
    assert "why not" not in text  # every program hit: no empty column
    assert "`" not in re.sub(r"<pre>.*?</pre>", "", text, flags=re.S)  # code spans are <code>, never raw
    assert "<code>pymace inspect FILE --model MODEL</code>" in text
    assert "No tuning file at" in text and "<code>pymace tune" in text  # nothing tuned in this storage dir


def test_tuning_section_shows_entries_and_a_recorded_gain():
    from pymace.tools import report_sections

    device = {"name": "GPU X", "compute_units": 4}
    entries = [{"key": "k1", "speedup": 1.5}, {"key": "k2", "speedup": 1.1}, {"key": "k3", "speedup": None}]
    def proof(key, tuned_us):
        return {"key": key, "speedup": None, "measured": {"model": "m", "default_us": 2400.0, "tuned_us": tuned_us,
                                                          "runs": 7, "kept": 2, "refused": 1}}
    f = {"bench": {"device": device, "tuning": {"tuned_nodes": 2, "kernel_nodes": 3, "tuned_steps": 2, "steps": 4}},
         "model_path": "m.pmace", "proof_key": "measured m 0123 fp32",
         "tuning_file": {"path": "/s/pymace_tuned_params.json", "integrity": "ok", "for_this_device": "tuned",
                         "devices": [{"name": "GPU X", "compute_units": 4,
                                      "entries": [*entries, proof("measured m 0123 fp32", 2000.0),
                                                  proof("measured n 4567 fp32", 1000.0)]},
                                     {"name": "other", "compute_units": 9, "entries": entries}]}}
    anchor, _, [(_, _, rows)] = report_sections.tuning(f)
    facts = dict(rows)
    assert anchor == "tuning" and facts["entries for this device"] == 3
    assert facts["per-launch estimate"] == "median 1.30× over the default, best 1.50× (2 entries)"
    assert facts["measured whole-model gain"] == ("2.400 ms untuned → 2.000 ms tuned (1.20×), median of 7 "
                                                  "alternating runs each; 2 tuned choices kept, 1 went back")
    f["proof_key"] = "measured m 0123 fp16"  # another data type's (or model's) measurement is not this one's
    assert dict(report_sections.tuning(f)[2][0][2])["measured whole-model gain"].startswith("not measured")


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
    assert text.count("\n## ") == 6 and text.index("**Summary") < text.index("\n## ")


def test_format_follows_the_extension(small_pmace, storage, measured, tmp_path):
    bench, valid = measured
    md = report.write_report(small_pmace, tmp_path / "r2.md", storage_dir=storage, bench=bench, valid=valid)
    assert md.read_text().startswith("# pymace deployment report")
    page = report.write_report(small_pmace, tmp_path / "r2.html", storage_dir=storage, bench=bench, valid=valid)
    assert page.read_text().startswith("<!DOCTYPE html>")
    assert report.format_for("x.MD") == "md" and report.format_for("x.md", "html") == "html"


def test_histogram_ticks_are_integers(measured):
    import io

    import matplotlib.image

    from pymace.tools import report_plots

    bench, _ = measured
    png = report_plots.plot_latency(bench)
    assert matplotlib.image.imread(io.BytesIO(png)).shape[2] in (3, 4)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.hist([1.0, 1.1, 1.2, 1.25, 1.3], bins=5)
    report_plots._integer_ticks(ax.yaxis)
    fig.canvas.draw()
    assert all(float(t).is_integer() for t in ax.get_yticks())
    plt.close(fig)


def test_measures_when_not_given(small_pmace, storage, tmp_path):
    out = report.write_report(small_pmace, tmp_path / "r.html", runs=3, storage_dir=storage)
    text = out.read_text()
    assert "<section id='performance'>" in text  # measured; validation skipped (no source model), in one line
    assert "validation skipped: the model records no source framework" in text


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
    card = (abs(pixels[:, :, 0] - 0x4f / 255) < 0.03) & (abs(pixels[:, :, 2] - 0xbd / 255) < 0.03)
    rows = card.any(axis=1).nonzero()[0]
    assert rows.size and rows[0] < 250  # the summary card's border is at the top of the page
    dom = subprocess.run(flags + ["--dump-dom", html_report.as_uri()], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert all(f'id="{a}"' in dom for a in SECTIONS) and dom.count("<img") == 3
    assert dom.index('id="summary"') < dom.index('id="overview"')


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
