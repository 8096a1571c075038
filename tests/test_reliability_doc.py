"""docs/reliability.md is generated from tests/reliability_matrix.py and names only real tests."""

import subprocess
import sys
from pathlib import Path

import reliability_matrix

ROOT = Path(__file__).resolve().parent.parent


def test_document_is_current():
    assert (ROOT / "docs" / "reliability.md").read_text() == reliability_matrix.render()


def test_every_named_test_exists():
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    collected = {line.strip() for line in completed.stdout.splitlines() if "::" in line}
    collected_functions = {node.split("[")[0] for node in collected}
    missing = [name for name in reliability_matrix.named_tests() if name not in collected and name not in collected_functions]
    assert missing == []


def test_counts():
    assert len(reliability_matrix.FAULTS) == 15
    assert len(reliability_matrix.BAD_INPUTS) >= 12
