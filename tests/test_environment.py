"""Hostile surroundings: bad inputs, unwritable output, a temporary root that resists removal,
and proxy variables that point at nothing."""

import json
import os
import shlex
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import TreeWatcher
from fake_fixtures import FAKE_GATEWAY, GWRTT, fake  # noqa: F401  (fake is a fixture)
from test_openclaw import fake_node, make_checkout, make_package

DEAD_PROXY = "http://127.0.0.1:9"
IS_ROOT = os.geteuid() == 0

pytestmark = pytest.mark.timeout(60)


def run_gwrtt(arguments, cwd, env=None):
    return subprocess.run(
        [str(GWRTT), *arguments], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, timeout=60,
    )


def assert_usage_error(completed, *fragments):
    assert completed.returncode == 2, completed.stderr
    lines = completed.stderr.splitlines()
    assert len(lines) == 1, completed.stderr
    assert lines[0].startswith("gwrtt: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    assert completed.stdout == ""


def environ_without_openclaw():
    return {key: value for key, value in os.environ.items() if not key.startswith("OPENCLAW_")}


# --- bad inputs that need files ------------------------------------------------------------------


def test_repo_root_not_openclaw(tmp_path):
    (tmp_path / "empty").mkdir()
    completed = run_gwrtt(["--output-dir", str(tmp_path / "out"), "--repo-root", str(tmp_path / "empty")], tmp_path)
    assert_usage_error(completed, "--repo-root", str(tmp_path / "empty"), "not an OpenClaw checkout or package")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["empty"]


def test_repo_root_missing(tmp_path):
    completed = run_gwrtt(["--output-dir", str(tmp_path / "out"), "--repo-root", str(tmp_path / "nowhere")], tmp_path)
    assert_usage_error(completed, "--repo-root", "folder not found", str(tmp_path / "nowhere"))
    assert list(tmp_path.iterdir()) == []


def test_node_too_old_cli(tmp_path):
    package = make_package(tmp_path / "pkg", chunks=[("version-a.mjs", "//#region packages/gateway-protocol/src/version.ts\nconst PROTOCOL_VERSION = 4;\nconst MIN_CLIENT_PROTOCOL_VERSION = 4;\n//#endregion\n")])
    node = fake_node(tmp_path / "bin", "v20.20.2")
    with TreeWatcher(tmp_path) as watcher:
        completed = run_gwrtt(["--output-dir", str(tmp_path / "out"), "--repo-root", str(package), "--node", node], tmp_path)
    assert_usage_error(completed, "--node", "v20.20.2", ">=24.16.0 <25 || >=26.1.0")
    assert sorted(path.name for path in tmp_path.iterdir()) == ["bin", "pkg"]
    assert watcher.pids == set()


def test_node_missing_cli(tmp_path):
    package = make_package(tmp_path / "pkg", chunks=[("version-a.mjs", "//#region packages/gateway-protocol/src/version.ts\nconst PROTOCOL_VERSION = 4;\nconst MIN_CLIENT_PROTOCOL_VERSION = 4;\n//#endregion\n")])
    completed = run_gwrtt(["--output-dir", str(tmp_path / "out"), "--repo-root", str(package), "--node", str(tmp_path / "no-node")], tmp_path)
    assert_usage_error(completed, "--node", "Node.js not found", str(tmp_path / "no-node"))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["pkg"]


def test_unreadable_version_ts_cli(tmp_path):
    checkout = make_checkout(tmp_path / "repo", "")
    version_ts = checkout / "packages" / "gateway-protocol" / "src" / "version.ts"
    version_ts.unlink()
    # A folder where the file should be cannot be read, even by root.
    version_ts.mkdir()
    completed = run_gwrtt(["--output-dir", str(tmp_path / "out"), "--repo-root", str(checkout)], tmp_path)
    assert_usage_error(completed, str(version_ts))
    assert sorted(path.name for path in tmp_path.iterdir()) == ["repo"]


# --- the output folder ---------------------------------------------------------------------------


def test_output_dir_is_a_file(tmp_path, fake):  # noqa: F811
    target = tmp_path / "out"
    target.write_text("not a folder\n")
    with TreeWatcher(tmp_path) as watcher:
        completed = run_gwrtt(
            ["--output-dir", str(target), "--protocol", "4:4",
             "--gateway-command", shlex.join([sys.executable, str(FAKE_GATEWAY)])],
            tmp_path, env=fake.environ(""),
        )
    assert_usage_error(completed, "--output-dir", "not a folder", str(target))
    assert target.read_text() == "not a folder\n"
    assert fake.processes() == []
    assert watcher.pids == set()
    assert fake.temp_roots() == []


def make_unwritable(folder):
    """Make ``folder`` reject new entries, also for root (immutable attribute) where possible."""
    if IS_ROOT:
        result = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"chattr +i is not available here: {result.stderr.strip()}")
    else:
        folder.chmod(stat.S_IRUSR | stat.S_IXUSR)


def make_writable(folder):
    if IS_ROOT:
        subprocess.run(["chattr", "-i", str(folder)], check=False)
    else:
        folder.chmod(stat.S_IRWXU)


def test_output_dir_not_writable(tmp_path, fake):  # noqa: F811
    locked = tmp_path / "locked"
    locked.mkdir()
    make_unwritable(locked)
    try:
        completed = run_gwrtt(
            ["--output-dir", str(locked / "out"), "--protocol", "4:4",
             "--gateway-command", shlex.join([sys.executable, str(FAKE_GATEWAY)])],
            tmp_path, env=fake.environ(""),
        )
        assert_usage_error(completed, "--output-dir", str(locked / "out"), "not writable")
        assert list(locked.iterdir()) == []
    finally:
        make_writable(locked)
    assert fake.processes() == []


def test_output_dir_not_writable_real_gateway(tmp_path, real_gateway):
    locked = tmp_path / "locked"
    locked.mkdir()
    make_unwritable(locked)
    try:
        with TreeWatcher(tmp_path) as watcher:
            started = time.monotonic()
            completed = run_gwrtt(["--output-dir", str(locked / "out")], tmp_path, env=environ_without_openclaw())
            took = time.monotonic() - started
        assert_usage_error(completed, "--output-dir", "not writable")
        assert list(locked.iterdir()) == []
    finally:
        make_writable(locked)
    assert watcher.pids == set()
    assert took < 10


def test_output_dir_is_a_file_real_gateway(tmp_path, real_gateway):
    target = tmp_path / "out"
    target.write_text("x")
    with TreeWatcher(tmp_path) as watcher:
        completed = run_gwrtt(["--output-dir", str(target)], tmp_path, env=environ_without_openclaw())
    assert_usage_error(completed, "--output-dir", "not a folder")
    assert watcher.pids == set()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out"]


# --- the temporary root --------------------------------------------------------------------------


def test_temp_root_not_removable(fake):  # noqa: F811
    """A file in the temporary root that cannot be deleted fails the run, as the reference does."""
    stuck = {}

    def lock_a_file():
        root = next(iter(fake.tmp_path.glob(".rpc-rtt-*")))
        target = root / "home" / "stuck.txt"
        target.write_text("x")
        if IS_ROOT:
            subprocess.run(["chattr", "+i", str(target)], check=True)
        else:
            (root / "home").chmod(stat.S_IRUSR | stat.S_IXUSR)
        stuck["file"] = target

    import threading

    def lock_when_started():
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not fake.processes("gateway"):
            time.sleep(0.02)
        lock_a_file()

    locker = threading.Thread(target=lock_when_started)
    locker.start()
    try:
        result, _ = fake.run("slow-ready", ready_delay=1)
    finally:
        locker.join()
        target = stuck.get("file")
        if target is not None:
            if IS_ROOT:
                subprocess.run(["chattr", "-i", str(target)], check=False)
            else:
                target.parent.chmod(stat.S_IRWXU)
            import shutil

            shutil.rmtree(target.parent.parent, ignore_errors=True)

    assert result.status == "fail"
    assert result.exit_code == 1
    details = result.details.splitlines()
    # The measurement itself passed; its JSON comes first, then the cleanup failure.
    assert json.loads(details[0])["iterations"] == 3
    expected = f"failed to remove RPC RTT temp root: EPERM: operation not permitted, unlink '{stuck['file']}'"
    if not IS_ROOT:
        expected = f"failed to remove RPC RTT temp root: EACCES: permission denied, unlink '{stuck['file']}'"
    assert details[-1] == expected
    summary = fake.summary()
    assert summary["scenarios"][0]["status"] == "fail"
    assert summary["scenarios"][0]["details"] == result.details
    assert fake.wait_processes_gone(3.0) == []


# --- proxies -------------------------------------------------------------------------------------


def test_dead_proxies_ignored(fake):  # noqa: F811
    proxies = {name: DEAD_PROXY for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")}
    result, _ = fake.run("", extra_environ=proxies, methods=("health", "config.get"))
    assert result.status == "pass", result.details
    assert fake.wait_processes_gone(3.0) == []


def test_junit_path_is_folder(tmp_path, fake):  # noqa: F811
    (tmp_path / "reports").mkdir()
    completed = run_gwrtt(
        ["--output-dir", str(tmp_path / "out"), "--protocol", "4:4", "--junit", str(tmp_path / "reports"),
         "--gateway-command", shlex.join([sys.executable, str(FAKE_GATEWAY)])],
        tmp_path, env=fake.environ(""),
    )
    assert_usage_error(completed, "--junit", "is a folder")
    assert not (tmp_path / "out").exists()
    assert fake.processes() == []


def test_stale_artifacts_removed(tmp_path, fake):  # noqa: F811
    output = tmp_path / "out"
    output.mkdir()
    for name in ("gateway.log", "gateway.stdout.log", "qa-suite-report.md", "rpc-events.json"):
        (output / name).write_text("from an earlier run\n")
    (output / "notes.txt").write_text("mine\n")
    completed = run_gwrtt(
        ["--output-dir", str(output), "--protocol", "4:4", "--ready-timeout", "1",
         "--gateway-command", shlex.join([sys.executable, str(FAKE_GATEWAY)])],
        tmp_path, env=fake.environ("never-ready"),
    )
    assert completed.returncode == 1
    for name in ("gateway.log", "qa-suite-report.md", "rpc-events.json"):
        path = output / name
        assert not path.exists() or path.read_text() != "from an earlier run\n", name
    assert (output / "rpc-events.json").read_text() == "[]\n"
    assert (output / "notes.txt").read_text() == "mine\n"
    assert fake.wait_processes_gone(3.0) == []
