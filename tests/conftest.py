"""Shared fixtures: the real gateway installed by scripts/install-gateway, and process checks."""

import os
import time

import psutil
import pytest

from gwrtt.openclaw import INSTALLED_NODE, INSTALLED_OPENCLAW

REQUIRE_GATEWAY = os.environ.get("GWRTT_REQUIRE_GATEWAY") == "1"


@pytest.fixture(scope="session")
def real_gateway():
    """The installed OpenClaw package folder; fails (in CI) or skips when it is missing."""
    if not (INSTALLED_OPENCLAW / "openclaw.mjs").is_file() or not INSTALLED_NODE.is_file():
        message = "the real gateway is not installed: run scripts/install-gateway"
        if REQUIRE_GATEWAY:
            pytest.fail(message)
        pytest.skip(message)
    return INSTALLED_OPENCLAW


def wait_until_gone(pids, timeout=3.0):
    """Wait until no pid in ``pids`` is a live (non-zombie) process; return the survivors."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [pid for pid in pids if is_live(pid)]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.05)


def is_live(pid):
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def processes_with_marker(marker, variable="GWRTT_RUN_ID"):
    """Return the pids of live processes whose environment has ``variable=marker``."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get(variable) == marker and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process.pid)
        except (psutil.Error, OSError):
            continue
    return found


class TreeWatcher:
    """Collect, in a background thread, the pids of processes whose HOME lies below ``folder``,
    and the gateway tokens in their environment.

    gwrtt points the gateway's HOME into its temporary root, which it creates beside the output
    folder, so this finds every process of the gateway's tree without knowing its pids.
    """

    def __init__(self, folder, interval=0.1):
        import threading

        self.folder = str(folder)
        self.interval = interval
        self.pids = set()
        self.tokens = set()
        self.homes = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join(5)

    def _run(self):
        while not self._stop.is_set():
            for process in psutil.process_iter():
                try:
                    environ = process.environ()
                    if environ.get("HOME", "").startswith(self.folder):
                        self.pids.add(process.pid)
                        self.homes.add(environ["HOME"])
                        if environ.get("OPENCLAW_GATEWAY_TOKEN"):
                            self.tokens.add(environ["OPENCLAW_GATEWAY_TOKEN"])
                except (psutil.Error, OSError):
                    continue
            self._stop.wait(self.interval)
