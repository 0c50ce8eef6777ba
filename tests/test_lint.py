"""The tree passes `make lint`: ruff's rules and formatting (ruff.toml) and mypy (mypy.ini)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKS = {
    "ruff check": ["-m", "ruff", "check", "--quiet", "."],
    "ruff format --check": ["-m", "ruff", "format", "--check", "--quiet", "."],
    "mypy": ["-m", "mypy"],
}


@pytest.mark.parametrize("name", CHECKS)
def test_lint_finds_nothing(name):
    result = subprocess.run([sys.executable, *CHECKS[name]], capture_output=True, text=True, cwd=ROOT, timeout=280)
    assert result.returncode == 0, f"{name}:\n{result.stdout}{result.stderr}"
