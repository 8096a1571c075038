"""The artifact files: JavaScript-compatible JSON text, key order, timestamps and atomic writes."""

import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from vectors import load_vectors

from gwrtt import artifacts

VECTORS = load_vectors()


@pytest.mark.parametrize("vector", VECTORS["isoTimestamps"], ids=lambda vector: vector["iso"])
def test_iso_timestamp_vectors(vector):
    moment = datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=vector["epochMs"])
    assert artifacts.iso_timestamp(moment) == vector["iso"]


def test_iso_timestamp_converts_to_utc():
    moment = datetime(2026, 12, 4, 20, 43, 44, 889_999, tzinfo=timezone(timedelta(hours=1)))
    assert artifacts.iso_timestamp(moment) == "2026-12-04T19:43:44.889Z"


def test_json_text_matches_javascript():
    # JSON.stringify({a: [], b: {}, c: [1, {d: "é"}]}, null, 2) + "\n"
    expected = '{\n  "a": [],\n  "b": {},\n  "c": [\n    1,\n    {\n      "d": "é"\n    }\n  ]\n}\n'
    assert artifacts.to_json({"a": [], "b": {}, "c": [1, {"d": "é"}]}) == expected
    assert artifacts.compact_json({"code": "X", "message": "a\"b"}) == '{"code":"X","message":"a\\"b"}'


def test_summary_pass_shape():
    started = datetime(2026, 12, 4, 19, 43, 44, 889_000, tzinfo=timezone.utc)
    finished = started + timedelta(seconds=11, milliseconds=5)
    measurement = {"finalMatchedReplyRttMs": 2, "durationMs": 2, "method": "health,config.get", "source": "gateway-rpc"}
    summary = artifacts.build_summary(status="pass", details="{}", started_at=started, finished_at=finished, measurement=measurement)
    expected = (
        '{\n  "counts": {\n    "total": 1,\n    "passed": 1,\n    "failed": 0\n  },\n'
        '  "run": {\n    "startedAt": "2026-12-04T19:43:44.889Z",\n    "finishedAt": "2026-12-04T19:43:55.894Z",\n'
        '    "providerMode": "gateway-rpc",\n    "scenarioIds": [\n      "rpc-gateway-smoke"\n    ]\n  },\n'
        '  "scenarios": [\n    {\n      "id": "rpc-gateway-smoke",\n      "title": "Gateway RPC loopback smoke",\n'
        '      "status": "pass",\n      "details": "{}",\n      "rttMeasurement": {\n'
        '        "finalMatchedReplyRttMs": 2,\n        "durationMs": 2,\n        "method": "health,config.get",\n'
        '        "source": "gateway-rpc"\n      }\n    }\n  ]\n}\n'
    )
    assert artifacts.to_json(summary) == expected


def test_summary_fail_has_no_measurement():
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    summary = artifacts.build_summary(status="fail", details="boom", started_at=now, finished_at=now)
    assert summary["counts"] == {"total": 1, "passed": 0, "failed": 1}
    assert summary["scenarios"] == [{"id": "rpc-gateway-smoke", "title": "Gateway RPC loopback smoke", "status": "fail", "details": "boom"}]


def test_sample_event_shape():
    event = artifacts.sample_event("config.get", 3, 2_500_400)
    assert event == {
        "event": "gateway-rpc",
        "payload": {"kind": "gateway-rpc", "method": "config.get", "ok": True, "durationMs": 3, "iteration": 3, "durationUs": 2500.4},
    }
    assert list(event["payload"]) == ["kind", "method", "ok", "durationMs", "iteration", "durationUs"]


def test_warmup_event_marked():
    event = artifacts.sample_event("health", 1, 999_999, warmup=True)
    assert list(event["payload"]) == ["kind", "method", "ok", "durationMs", "iteration", "warmup", "durationUs"]
    assert event["payload"]["warmup"] is True
    assert event["payload"]["durationMs"] == 1


def test_connect_event_shape():
    event = artifacts.connect_event(14_612_345)
    assert event == {"event": "gateway-rpc.connect", "payload": {"method": "connect", "ok": True, "durationMs": 15, "durationUs": 14612.345}}


@pytest.mark.parametrize("count", [0, 1, 3])
def test_event_log_matches_json_stringify(tmp_path, count):
    events = [artifacts.connect_event(1_000_000)] + [artifacts.sample_event("health", index, 1_500_000 + index) for index in range(1, count)]
    events = events[:count]
    log = artifacts.EventLog(str(tmp_path))
    for event in events:
        log.append(event)
    path = log.finish()
    assert Path(path).read_text() == artifacts.to_json(events)
    assert os.listdir(tmp_path) == ["rpc-events.json"]
    assert log.finish() == path


@pytest.mark.parametrize(
    "method, iteration, duration_ns, warmup",
    [("health", 1, 2_500_400, False), ("config.get", 12, 1_000_000, True), ("métho\"d", 3, 7, False), ("x", 1, 123_456_789_012, False)],
)
def test_append_sample_matches_generic_event(tmp_path, method, iteration, duration_ns, warmup):
    (tmp_path / "fast").mkdir()
    (tmp_path / "generic").mkdir()
    fast = artifacts.EventLog(str(tmp_path / "fast"))
    generic = artifacts.EventLog(str(tmp_path / "generic"))
    for log in (fast, generic):
        log.append(artifacts.connect_event(1_000))
    fast.append_sample(method, iteration, duration_ns, warmup)
    generic.append(artifacts.sample_event(method, iteration, duration_ns, warmup))
    assert Path(fast.finish()).read_text() == Path(generic.finish()).read_text()


def test_event_log_escapes_newlines_in_strings(tmp_path):
    log = artifacts.EventLog(str(tmp_path))
    event = {"event": "x", "payload": {"text": "a\nb"}}
    log.append(event)
    assert Path(log.finish()).read_text() == artifacts.to_json([event])


def test_write_summary_atomic_and_exact(tmp_path):
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    summary = artifacts.build_summary(status="fail", details="x", started_at=now, finished_at=now)
    path = artifacts.write_summary(str(tmp_path), summary)
    assert json.loads(Path(path).read_text()) == summary
    assert os.listdir(tmp_path) == ["qa-suite-summary.json"]


def test_copy_gateway_logs_skips_missing(tmp_path):
    source = tmp_path / "sandbox"
    source.mkdir()
    (source / "gateway.stderr.log").write_text("err\n")
    target = tmp_path / "out"
    copied = artifacts.copy_gateway_logs(str(source), str(target))
    assert copied == [str(target / "gateway.stderr.log")]
    assert (target / "gateway.stderr.log").read_text() == "err\n"


@pytest.mark.parametrize("cut", [0, 1, 40, 120, None])
def test_recover_events_keeps_whole_events(tmp_path, cut):
    log = artifacts.EventLog(str(tmp_path))
    events = [artifacts.connect_event(1_000_000), artifacts.sample_event("health", 1, 2_000_000), artifacts.sample_event("health", 2, 3_000_000)]
    for event in events:
        log.append(event)
    # A killed run leaves the file without its end, perhaps in the middle of an event.
    text = Path(log.temporary).read_text()
    if cut is not None:
        Path(log.temporary).write_text(text[: len(text) - cut] if cut else text)
    whole = artifacts.to_json(events)
    partial_events = events if cut in (0, None) else events[:-1]

    path = artifacts.recover_events(log.temporary, str(tmp_path))

    assert path == str(tmp_path / "rpc-events.json")
    assert json.loads(Path(path).read_text()) == partial_events
    assert Path(path).read_text() == (whole if cut in (0, None) else artifacts.to_json(partial_events))
    assert os.listdir(tmp_path) == ["rpc-events.json"]


def test_recover_events_empty_file(tmp_path):
    log = artifacts.EventLog(str(tmp_path))
    assert Path(artifacts.recover_events(log.temporary, str(tmp_path))).read_text() == "[]\n"
