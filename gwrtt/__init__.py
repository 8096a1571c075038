"""gwrtt: measure the RPC round-trip time of an isolated local OpenClaw gateway.

The API for embedding::

    from gwrtt import Runner, RunOptions

    result = Runner(RunOptions(output_dir="out", iterations=20)).run()
    print(result.status, result.by_method, result.artifacts["summary"])

``Runner.run()`` raises :class:`UsageError` for invalid options, before it creates anything.
Every later failure comes back as a :class:`RunResult` with ``status == "fail"``, and the
summary is written either way.
"""

import logging

__version__ = "0.1.0"

from .errors import GwrttError, UsageError  # noqa: E402
from .options import RunOptions  # noqa: E402
from .runner import RunResult, Runner  # noqa: E402

__all__ = ["GwrttError", "RunOptions", "RunResult", "Runner", "UsageError", "__version__"]

logging.getLogger(__name__).addHandler(logging.NullHandler())
