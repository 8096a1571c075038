"""The expected statistics and timestamps computed with the reference definitions.

The project's shared folder beside the checkout has the current file. A clone without it uses
the copy in tests/data, and test_vectors_copy_current keeps the two equal while both exist.
"""

import json
from pathlib import Path

SHARED_VECTORS = Path(__file__).resolve().parents[2] / "shared" / "vectors" / "stats.json"
COPIED_VECTORS = Path(__file__).resolve().parent / "data" / "stats-vectors.json"


def load_vectors():
    path = SHARED_VECTORS if SHARED_VECTORS.is_file() else COPIED_VECTORS
    return json.loads(path.read_text())
