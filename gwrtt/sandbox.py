"""The isolated home of one gateway run: a temporary root, its config and its environment.

Everything the gateway writes goes below the temporary root, except Node's compile cache, which
lives in a persistent cache folder so that isolation does not cost start-up time.
"""

import errno
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from pathlib import Path

from .errors import CleanupError

TEMP_PREFIX = ".rpc-rtt-"
# Marks every process the gateway starts, so that ones which left its process group or session
# can still be found. The value is unique per run.
MARKER_VARIABLE = "GWRTT_RUN_ID"
# OpenClaw 2026.9.6 keeps lock files for its state database in this folder, whatever TMPDIR
# is, named "<family>.<first 8 hex digits of sha256(database path)>.lock.sqlite".
STATE_LOCKS_DIR = Path("/tmp") / f"openclaw-state-locks-{os.getuid()}"
# Variables that turn off colour codes in the gateway's logs.
NO_COLOUR = {"NO_COLOR": "1", "FORCE_COLOR": "0"}


class Sandbox:
    """A temporary root beside the output folder, created with mode 0700.

    Layout: ``home/``, ``xdg-config/``, ``xdg-data/``, ``xdg-cache/``, ``state/``, ``tmp/``,
    ``openclaw.json`` (the config), ``gateway.log`` (the gateway's own log file) and the captured
    ``gateway.stdout.log`` and ``gateway.stderr.log``.
    """

    def __init__(self, output_dir):
        self.root = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=Path(output_dir).parent))
        os.chmod(self.root, 0o700)
        self.token = f"rpc-rtt-{uuid.uuid4()}"
        self.marker = str(uuid.uuid4())
        self.config_path = self.root / "openclaw.json"
        self.stdout_path = self.root / "gateway.stdout.log"
        self.stderr_path = self.root / "gateway.stderr.log"
        self.log_path = self.root / "gateway.log"
        for name in ("home", "xdg-config", "xdg-data", "xdg-cache", "state", "tmp"):
            (self.root / name).mkdir(mode=0o700)
        self._locks_dir_existed = STATE_LOCKS_DIR.exists()

    def write_config(self, port):
        """Write the gateway config: token auth on loopback, no UI, no plugins, log file inside."""
        config = {
            "gateway": {
                "mode": "local",
                "bind": "loopback",
                "port": port,
                "auth": {"mode": "token", "token": self.token},
                "controlUi": {"enabled": False},
            },
            "plugins": {"enabled": False},
            # Without this the log goes to the fixed folder /tmp/openclaw/, outside the sandbox.
            "logging": {"file": str(self.log_path)},
        }
        fd = os.open(self.config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(config, indent=2) + "\n")

    def environment(self, base, compile_cache):
        """Return the gateway's environment: ``base`` with every isolation variable set.

        ``OPENCLAW_*`` variables inherited from ``base`` are dropped, so that a developer's own
        gateway settings cannot leak into the measured one.
        """
        env = {key: value for key, value in base.items() if not key.startswith("OPENCLAW_")}
        env.update(
            {
                "HOME": str(self.root / "home"),
                "XDG_CONFIG_HOME": str(self.root / "xdg-config"),
                "XDG_DATA_HOME": str(self.root / "xdg-data"),
                "XDG_CACHE_HOME": str(self.root / "xdg-cache"),
                "TMPDIR": str(self.root / "tmp"),
                "NODE_COMPILE_CACHE": str(compile_cache),
                "OPENCLAW_CONFIG_PATH": str(self.config_path),
                "OPENCLAW_STATE_DIR": str(self.root / "state"),
                "OPENCLAW_GATEWAY_TOKEN": self.token,
                "OPENCLAW_SKIP_BROWSER_CONTROL_SERVER": "1",
                "OPENCLAW_SKIP_GMAIL_WATCHER": "1",
                "OPENCLAW_SKIP_CANVAS_HOST": "1",
                "OPENCLAW_NO_RESPAWN": "1",
                "OPENCLAW_TEST_FAST": "1",
                MARKER_VARIABLE: self.marker,
                **NO_COLOUR,
            }
        )
        return env

    def remove(self):
        """Delete the lock files of this run and the temporary root.

        Raises :class:`CleanupError` in the reference's words when the root cannot be removed.
        """
        remove_state_locks(self.root, remove_empty_folder=not self._locks_dir_existed)
        remove_tree(self.root)


def remove_state_locks(root, *, remove_empty_folder=False):
    """Delete the lock files that a gateway with its state below ``root`` left in the shared folder.

    Only files named after a database below ``root`` are removed, so locks of other gateways
    stay. With ``remove_empty_folder`` the folder goes too when it is empty. Returns the paths
    removed.
    """
    hashes = set()
    for folder, _, names in os.walk(Path(root) / "state"):
        for name in names:
            real = os.path.realpath(os.path.join(folder, name))
            hashes.add(hashlib.sha256(real.encode()).hexdigest()[:8])
    removed = []
    try:
        entries = list(STATE_LOCKS_DIR.iterdir())
    except OSError:
        return removed
    for entry in entries:
        parts = entry.name.split(".")
        if len(parts) == 4 and parts[2:] == ["lock", "sqlite"] and parts[1] in hashes:
            try:
                entry.unlink()
                removed.append(entry)
            except OSError:
                pass
    if remove_empty_folder:
        try:
            STATE_LOCKS_DIR.rmdir()
        except OSError:
            pass
    return removed


def remove_tree(root):
    """Delete ``root`` and everything below it; raise :class:`CleanupError` on failure.

    The message follows Node's ``fs.rm`` errors, as the reference reports them:
    ``failed to remove RPC RTT temp root: EPERM: operation not permitted, unlink '<path>'``.
    """
    failures = []

    def record(function, path, exc_info):
        failures.append((function, path, exc_info[1]))

    shutil.rmtree(root, onerror=record)
    failures = [failure for failure in failures if not isinstance(failure[2], FileNotFoundError)]
    if failures:
        function, path, exc = failures[0]
        code = errno.errorcode.get(exc.errno, "EIO") if getattr(exc, "errno", None) else "EIO"
        reason = (exc.strerror or str(exc)).lower()
        raise CleanupError(
            f"failed to remove RPC RTT temp root: {code}: {reason}, {function.__name__} '{path}'"
        ) from exc


def remove_tree_and_locks(root):
    """Best-effort removal for the guard process: lock files, then the folder; errors ignored."""
    remove_state_locks(root)
    try:
        remove_tree(root)
    except CleanupError:
        pass


def default_compile_cache(environ):
    """Return the persistent folder for Node's compile cache, below the user's cache folder."""
    base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gwrtt" / "node-compile-cache"
