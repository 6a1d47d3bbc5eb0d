"""bench/RESULTS.md: each benchmark appends its runs to its own `## ` section.

Shared by the scripts in bench/ so that the file keeps one layout. Re-reads the
file right before writing: other benchmarks append their own sections.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
PREAMBLE = "# Benchmark results\n\nEach benchmark in `bench/` appends its runs to its own section.\n\n"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine() -> str:
    """The machine line every run's heading carries."""
    return f"{os.cpu_count()} CPUs ({cpu_model()}), Python {platform.python_version()}, {platform.system()} {platform.release()}"


def append_run(header: str, usage: str, lines: list[str], path: Path = RESULTS) -> None:
    """Append `lines` (one run) at the end of the section `header` ("## name — what"),
    creating the file and the section (with `usage` under it) when missing."""
    header = header.rstrip("\n") + "\n"
    if not path.exists():
        path.write_text(PREAMBLE)
    text = path.read_text()
    if header not in text:
        text = text.rstrip("\n") + "\n\n" + header + "\n" + usage.rstrip("\n") + "\n\n"
    start = text.index(header) + len(header)
    following = text.find("\n## ", start)
    block = "\n".join(lines) + "\n"
    if following == -1:
        text = text.rstrip("\n") + "\n\n" + block
    else:
        text = text[:following].rstrip("\n") + "\n\n" + block + text[following:]
    path.write_text(text)
