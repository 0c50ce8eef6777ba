"""tests/deploy: the tools the checks need are installed once per session (scripts/check_deploy.sh)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from deploy_lib import ROOT, _tools_present


@pytest.fixture(scope="session", autouse=True)
def deploy_tools():
    if not _tools_present():
        subprocess.run([str(ROOT / "scripts" / "check_deploy.sh"), "--install-only"], check=True, cwd=ROOT)
    assert _tools_present(), (
        "scripts/check_deploy.sh --install-only did not provide kubectl, promtool, prometheus, checkov, kubernetes-validate"
    )
