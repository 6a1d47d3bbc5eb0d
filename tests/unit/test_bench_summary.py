"""bench/_results.py: headline figures travel from a benchmark to `bench all`'s summary,
and the summary at the top of RESULTS.md is replaced, never duplicated, while every
benchmark's own section stays as it was. (`bench all --quick` itself runs for minutes:
it is a manual smoke test, not part of the suite.)"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import _results  # noqa: E402
from _results import append_run, headline, read_headlines, summary_block, write_summary  # noqa: E402


def test_headlines_are_appended_to_the_file_named_in_the_environment(tmp_path, monkeypatch):
    sink = tmp_path / "h.jsonl"
    monkeypatch.delenv(_results.HEADLINES_ENV, raising=False)
    headline("x", "not collected", 1.0, "ms")  # no file named: printed figures only
    assert not sink.exists()
    monkeypatch.setenv(_results.HEADLINES_ENV, str(sink))
    headline("poll", "v3 slower than v2c by", 1.8, "x", "<= 2x", True)
    headline("load", "req/s", None, "not measured")
    assert read_headlines(sink) == [
        {"bench": "poll", "figure": "v3 slower than v2c by", "value": 1.8, "unit": "x", "target": "<= 2x", "met": True},
        {"bench": "load", "figure": "req/s", "value": None, "unit": "not measured", "target": "", "met": None}]


@pytest.mark.parametrize("existing", ["none", "sections", "summary"])
def test_the_summary_replaces_the_previous_one_and_keeps_the_sections(tmp_path, existing):
    results = tmp_path / "RESULTS.md"
    if existing != "none":
        append_run("## storm — a storm", "usage", ["### run 1", "", "| a |"], path=results)
        append_run("## poll — polls", "usage", ["### run 1"], path=results)
    if existing == "summary":
        write_summary(summary_block([], "old date", "old machine", "9.9"), results)
    figures = [{"bench": "poll", "figure": "v3 slower than v2c by", "value": 1.84, "unit": "x", "target": "<= 2x",
                "met": True},
               {"bench": "http", "figure": "req/s at 32 users", "value": 212.4, "unit": "req/s", "target": ">= 500",
                "met": False},
               {"bench": "ts", "figure": "MB per 1,000 devices/day", "value": 12345.6, "unit": "MB", "target": "",
                "met": None}]
    write_summary(summary_block(figures, "2026-11-30 03:00 UTC", "2 CPUs", "1.0, 1.0, 1.0", ["a note"]), results)
    text = results.read_text()

    assert text.startswith("# Benchmark results\n")
    assert text.count(_results.SUMMARY_START) == 1 and text.count(_results.SUMMARY_END) == 1
    assert "old date" not in text
    summary = text[text.index(_results.SUMMARY_START):text.index(_results.SUMMARY_END)]
    assert "## Summary — 2026-11-30 03:00 UTC" in summary and "2 CPUs; load average at start 1.0, 1.0, 1.0" in summary
    assert "| poll | v3 slower than v2c by | 1.84 x | <= 2x | ✓ |" in summary
    assert "| http | req/s at 32 users | 212 req/s | >= 500 | ✗ |" in summary
    assert "| ts | MB per 1,000 devices/day | 12,346 MB |  |  |" in summary
    assert "- a note" in summary
    if existing != "none":  # the sections follow the summary, untouched
        assert text.index(_results.SUMMARY_END) < text.index("## storm — a storm") < text.index("## poll — polls")
        assert "### run 1\n\n| a |" in text
        # and a benchmark appending afterwards still lands in its own section, below the summary
        append_run("## storm — a storm", "usage", ["### run 2"], path=results)
        text = results.read_text()
        assert text.index("### run 2") < text.index("## poll — polls")
        assert text.count(_results.SUMMARY_START) == 1
