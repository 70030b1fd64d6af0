"""Run `zoo` the way a user does and check what they would see."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ZOO = Path(sys.executable).with_name("zoo")


def zoo(*args: str, env: dict[str, str] | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the installed `zoo` command as a user would, from the session's ZOO_HOME (never the repo);
    `check` expects exit code 0."""
    # mlflow.set_tracking_uri in a test's own process exports MLFLOW_TRACKING_URI; a user of the default store has none
    inherited = {key: value for key, value in os.environ.items() if key != "MLFLOW_TRACKING_URI"}
    env = {**inherited, **(env or {})}
    result = subprocess.run([str(ZOO), *args], capture_output=True, text=True, env=env, cwd=os.environ["ZOO_HOME"], timeout=120)
    if check:
        assert result.returncode == 0, f"zoo {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """The CLI's contract for bad input: exit 2, one line on stderr, no traceback."""
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def assert_error_line(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """Exit 2 and the error as the last line, after whatever work had started; no traceback."""
    assert result.returncode == 2, result.stdout + result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in last, last


def install_plugin(site: Path, name: str, source: str) -> None:
    """An installed distribution `zoo-NAME` whose entry point `NAME` is the module `zoo_NAME` holding `source`."""
    info = site / f"zoo_{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: zoo-{name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[zoo]\n{name} = zoo_{name}\n")
    (site / f"zoo_{name}.py").write_text(source)
