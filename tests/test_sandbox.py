"""The temporary root: its mode, config, environment and removal, with the shared lock folder."""

import hashlib
import json
import os
import stat

import pytest

from gwrtt import sandbox
from gwrtt.errors import CleanupError
from gwrtt.sandbox import Sandbox


def test_root_beside_output_with_mode_0700(tmp_path):
    box = Sandbox(tmp_path / "out")
    try:
        assert box.root.parent == tmp_path
        assert box.root.name.startswith(".rpc-rtt-")
        assert stat.S_IMODE(box.root.stat().st_mode) == 0o700
        assert sorted(path.name for path in box.root.iterdir()) == ["home", "state", "tmp", "xdg-cache", "xdg-config", "xdg-data"]
    finally:
        box.remove()
    assert not box.root.exists()


def test_config_has_token_auth_and_log_file(tmp_path):
    box = Sandbox(tmp_path / "out")
    try:
        box.write_config(43210)
        config = json.loads(box.config_path.read_text())
        assert config == {
            "gateway": {
                "mode": "local",
                "bind": "loopback",
                "port": 43210,
                "auth": {"mode": "token", "token": box.token},
                "controlUi": {"enabled": False},
            },
            "plugins": {"enabled": False},
            "logging": {"file": str(box.root / "gateway.log")},
        }
        assert stat.S_IMODE(box.config_path.stat().st_mode) == 0o600
    finally:
        box.remove()


def test_environment_isolates_gateway(tmp_path):
    box = Sandbox(tmp_path / "out")
    try:
        base = {"PATH": "/usr/bin", "HOME": "/home/dev", "OPENCLAW_GATEWAY_PASSWORD": "leak", "OPENCLAW_PROFILE": "x"}
        env = box.environment(base, tmp_path / "cache")
        assert env["PATH"] == "/usr/bin"
        assert "OPENCLAW_GATEWAY_PASSWORD" not in env
        assert "OPENCLAW_PROFILE" not in env
        for name in ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "TMPDIR", "OPENCLAW_STATE_DIR", "OPENCLAW_CONFIG_PATH"):
            assert env[name].startswith(str(box.root) + os.sep), name
        assert env["NODE_COMPILE_CACHE"] == str(tmp_path / "cache")
        assert env["OPENCLAW_GATEWAY_TOKEN"] == box.token
        assert env["NO_COLOR"] == "1"
        assert env["FORCE_COLOR"] == "0"
        assert env[sandbox.MARKER_VARIABLE] == box.marker
        assert base["HOME"] == "/home/dev"
    finally:
        box.remove()


def test_state_locks_removed_only_for_own_database(tmp_path, monkeypatch):
    locks = tmp_path / "locks"
    locks.mkdir()
    monkeypatch.setattr(sandbox, "STATE_LOCKS_DIR", locks)
    box = Sandbox(tmp_path / "out")
    database = box.root / "state" / "state" / "openclaw.sqlite"
    database.parent.mkdir()
    database.write_text("")
    own = hashlib.sha256(os.path.realpath(database).encode()).hexdigest()[:8]
    for name in (f"gateway-lifecycle.{own}.lock.sqlite", f"state-handles.{own}.lock.sqlite", "state-handles.0badf00d.lock.sqlite"):
        (locks / name).write_text("")

    box.remove()

    assert sorted(path.name for path in locks.iterdir()) == ["state-handles.0badf00d.lock.sqlite"]
    assert not box.root.exists()


def test_remove_reports_like_node(tmp_path, monkeypatch):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "file").write_text("x")

    def unlink(path, *args, **kwargs):
        # Stands in for os.unlink on a file with the immutable attribute.
        raise PermissionError(1, "Operation not permitted", str(path))

    monkeypatch.setattr(os, "unlink", unlink)
    with pytest.raises(CleanupError) as info:
        sandbox.remove_tree(root)
    assert str(info.value) == f"failed to remove RPC RTT temp root: EPERM: operation not permitted, unlink '{root / 'sub' / 'file'}'"
