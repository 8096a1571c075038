"""Command-line parsing and option validation: exit 2, one line, nothing created."""

import subprocess
import sys
from pathlib import Path

import pytest

from gwrtt import RunOptions, UsageError
from gwrtt.cli import build_parser, main
from gwrtt.options import MAX_ITERATIONS, parse_iterations, parse_methods, parse_timeout

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_match_reference():
    args = build_parser().parse_args(["--output-dir", "out"])
    assert args.iterations == 10
    assert args.methods == ("health", "config.get")
    assert args.ready_timeout == 120.0
    assert args.request_timeout == 10.0
    assert args.repo_root is None


def test_methods_duplicate_rejected():
    with pytest.raises(UsageError, match="^--methods: 'health' is listed twice"):
        parse_methods("health,config.get,health")


def test_timeout_error_echoes_text():
    with pytest.raises(UsageError) as info:
        parse_timeout("--request-timeout", "0")
    assert str(info.value) == "--request-timeout: expected a number of seconds greater than 0, got '0'"


def test_methods_trimmed_and_blanks_dropped():
    assert parse_methods(" health , ,config.get,") == ("health", "config.get")


@pytest.mark.parametrize("text", ["", ",", " , ,, "])
def test_methods_empty_rejected(text):
    with pytest.raises(UsageError, match="--methods"):
        parse_methods(text)


@pytest.mark.parametrize("text, value", [("1", 1), ("10", 10), (" 7 ", 7), (str(MAX_ITERATIONS), MAX_ITERATIONS)])
def test_iterations_accepted(text, value):
    assert parse_iterations(text) == value


@pytest.mark.parametrize("text", ["0", "-1", "1.5", "abc", "", "1e3", "٣", str(MAX_ITERATIONS + 1), "99999999999999999999"])
def test_iterations_rejected(text):
    with pytest.raises(UsageError) as info:
        parse_iterations(text)
    assert str(info.value).startswith("--iterations: ")


@pytest.mark.parametrize("text", ["0", "-5", "nan", "inf", "soon", ""])
def test_timeout_rejected(text):
    with pytest.raises(UsageError, match="^--ready-timeout: "):
        parse_timeout("--ready-timeout", text)


def test_timeout_fraction_accepted():
    assert parse_timeout("--request-timeout", "0.25") == 0.25


def test_api_validates_like_cli(tmp_path):
    with pytest.raises(UsageError, match="--iterations"):
        RunOptions(output_dir=tmp_path / "out", iterations=0).validated()
    with pytest.raises(UsageError, match="--request-timeout"):
        RunOptions(output_dir=tmp_path / "out", request_timeout=-1).validated()
    with pytest.raises(UsageError, match="--methods"):
        RunOptions(output_dir=tmp_path / "out", methods=()).validated()


BAD_ARGUMENTS = [
    (["--iterations", "0"], "--iterations"),
    (["--iterations", "-3"], "--iterations"),
    (["--iterations", "2.5"], "--iterations"),
    (["--iterations", "ten"], "--iterations"),
    (["--iterations", "100000000"], "--iterations"),
    (["--methods", ""], "--methods"),
    (["--methods", ",,,"], "--methods"),
    (["--frobnicate"], "--frobnicate"),
    (["--iterations"], "--iterations"),
    (["--ready-timeout", "-1"], "--ready-timeout"),
    (["--request-timeout", "fast"], "--request-timeout"),
    (["--protocol", "4"], "--protocol"),
    (["--protocol", "5:4"], "--protocol"),
    (["--repo-root", "/nonexistent/openclaw"], "/nonexistent/openclaw"),
]


@pytest.mark.parametrize("extra, named", BAD_ARGUMENTS, ids=[" ".join(extra) or "empty" for extra, _ in BAD_ARGUMENTS])
def test_bad_argument_exits_2_creates_nothing(tmp_path, capsys, extra, named):
    output = tmp_path / "out"
    code = main(["--output-dir", str(output), *extra])
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("gwrtt: error: ")
    assert named in lines[0]
    assert captured.out == ""
    assert list(tmp_path.iterdir()) == []


def test_missing_output_dir_exits_2(capsys):
    assert main([]) == 2
    assert "--output-dir" in capsys.readouterr().err


def test_bin_script_reports_usage_error(tmp_path):
    completed = subprocess.run(
        [str(ROOT / "bin" / "gwrtt"), "--output-dir", str(tmp_path / "out"), "--iterations", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 2
    assert completed.stderr == "gwrtt: error: --iterations: expected a positive whole number, got '0'\n"
    assert not (tmp_path / "out").exists()


def test_module_entry_point_prints_version():
    completed = subprocess.run(
        [sys.executable, "-m", "gwrtt", "--version"], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert completed.returncode == 0
    assert completed.stdout.startswith("gwrtt ")
