"""Writing a benchmark's table into its own marked section of BENCHMARKS.md."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"


def machine() -> str:
    """The machine, the date and the 1-minute load average when the numbers were taken."""
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}, load {os.getloadavg()[0]:.2f}"


def write_section(key: str, heading: str, how: str, rows: list[str]) -> None:
    """Replace the section between `<!-- key:begin -->` and `<!-- key:end -->`, or append it under `heading`."""
    begin, end = f"<!-- {key}:begin -->", f"<!-- {key}:end -->"
    section = "\n".join([begin, how, "", *rows, end])
    text = BENCHMARKS.read_text() if BENCHMARKS.exists() else "# Benchmarks\n"
    if begin in text:
        text = text[: text.index(begin)] + section + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + f"\n\n## {heading}\n\n{section}\n"
    BENCHMARKS.write_text(text)
    print("\n".join(rows))
