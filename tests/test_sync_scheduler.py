"""The outbox sender's scheduling, without a browser: static/pwa/js/sync.js runs in Node
(tests/sync_harness.mjs) against an in-memory outbox and a scripted server that logs when each request
starts and ends. Several items go at once, but never more than sync.CONCURRENCY; a capture's finding
only after its photos; a finding's actions one after another; a transient failure lets the ones in
flight finish and starts nothing new; a stale CSRF token is refreshed once for all senders; a lost
login ends the run as "auth"; a refusal stops nothing. The browser side is
tests/browser/test_sync_concurrency.py."""
from __future__ import annotations

import json
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")


@pytest.fixture(scope="module")
def runs() -> dict:
    out = subprocess.run([NODE, str(ROOT / "tests/sync_harness.mjs"), str(ROOT / "static/pwa/js")],
                         capture_output=True, text=True, timeout=60, check=True)
    return json.loads(out.stdout)


def when(log: list[dict], event: str, name: str, nth: int = 0) -> int:
    """Position in the log of the nth `event` ("start"/"end") of request `name`."""
    hits = [i for i, e in enumerate(log) if e["event"] == event and e["name"] == name]
    assert len(hits) > nth, f"{name} has no {event} #{nth}: {log}"
    return hits[nth]


def starts(log: list[dict]) -> Counter:
    return Counter(e["name"] for e in log if e["event"] == "start")


def put(item_id: str, finding: str | None = None) -> str:
    return f"put:/api/v1/findings/{finding}/actions/{item_id}" if finding else f"put:/api/v1/findings/{item_id}"


def test_several_items_in_flight_never_more_than_the_limit(runs):
    run = runs["independent"]
    assert runs["concurrency"] >= 2
    assert run["result"] == {"ran": True, "result": "done"}
    assert run["peak"] == runs["concurrency"]
    assert [i["state"] for i in run["items"]] == ["sent"] * 12
    log = run["log"]
    assert set(starts(log).values()) == {1}  # nothing sent twice
    for n in range(12):
        assert when(log, "end", f"photo:f{n}-p0") < when(log, "start", put(f"f{n}")), "finding before its photo"
    done = [s["done"] for s in run["statuses"]]
    assert done == sorted(done) and run["statuses"][-1] == {"state": "idle", "done": 12, "total": 12}


def test_dependent_items_keep_their_order_while_others_overtake(runs):
    run = runs["chain"]
    log = run["log"]
    assert run["result"]["result"] == "done" and {i["state"] for i in run["items"]} == {"sent"}
    # f100 and its three actions, strictly one after another, the second action's photo included.
    assert when(log, "end", put("f100")) < when(log, "start", put("a1", "f100"))
    assert when(log, "end", put("a1", "f100")) < when(log, "start", "photo:a2-p0")
    assert when(log, "end", "photo:a2-p0") < when(log, "start", put("a2", "f100"))
    assert when(log, "end", put("a2", "f100")) < when(log, "start", put("a3", "f100"))
    # Two actions on a finding not in this outbox: in order too.
    assert when(log, "end", put("a4", "f999")) < when(log, "start", put("a5", "f999"))
    # The slow finding did not hold up the independent ones queued behind it.
    assert when(log, "end", put("f102")) < when(log, "end", put("f100"))
    assert when(log, "end", put("a5", "f999")) < when(log, "end", put("f100"))


def test_transient_failure_lets_the_in_flight_finish_and_starts_nothing_new(runs):
    run = runs["transient"]
    log = run["log"]
    states = {i["id"]: i for i in run["items"]}
    assert run["result"]["result"] == "error" and run["statuses"][-1]["state"] == "error"
    assert states["f203"]["state"] == "failed" and states["f203"]["uploaded"] == [True]  # keeps its progress
    failed_at = when(log, "end", put("f203"))
    assert not [e for e in log[failed_at:] if e["event"] == "start"], "a new item started after the failure"
    begun = [f"f{n}" for n in range(200, 210) if f"photo:f{n}-p0" in starts(log)]
    # In flight when f203 failed (begun before, answered after): finished, not abandoned.
    in_flight = [i for i in begun if when(log, "start", f"photo:{i}-p0") < failed_at < when(log, "end", put(i))]
    assert in_flight and all(states[i]["state"] == "sent" for i in in_flight)
    assert all(states[i]["state"] == "sent" for i in begun if i != "f203")
    never = [f"f{n}" for n in range(200, 210) if f"f{n}" not in begun]
    assert never and all(states[i]["state"] == "pending" for i in never)  # the run stopped short of them
    assert run["statuses"][-1]["done"] == len(begun) - 1

    retry = runs["transientRetry"]
    assert retry["result"]["result"] == "done" and {i["state"] for i in retry["items"]} == {"sent"}
    both = starts(log) + starts(retry["log"])
    photo_puts = {name: count for name, count in both.items() if name.startswith("photo:")}
    assert sorted(photo_puts) == sorted(f"photo:f{n}-p0" for n in range(200, 210)) and set(photo_puts.values()) == {1}
    assert both[put("f203")] == 2 and all(both[put(f"f{n}")] == 1 for n in range(200, 210) if n != 203)


def test_a_stale_csrf_token_is_refreshed_once_for_all_senders(runs):
    run = runs["csrf"]
    log = run["log"]
    assert run["result"]["result"] == "done" and {i["state"] for i in run["items"]} == {"sent"}
    assert starts(log)["session"] == 2  # the run's own, and one refresh although three senders met "old"
    refused = [e for e in log if e["event"] == "start" and e["name"] != "session" and e["csrf"] == "old"]
    assert len(refused) == runs["concurrency"]
    assert all(count <= 2 for name, count in starts(log).items() if name != "session")


def test_lost_login_ends_the_run_once_as_auth(runs):
    run = runs["auth"]
    log = run["log"]
    states = [i["state"] for i in run["items"]]
    assert run["result"]["result"] == "auth"  # although another sender met a network error at the same time
    assert run["statuses"][-1]["state"] == "auth"
    assert starts(log)["session"] == 1
    assert set(states) <= {"sent", "pending", "failed"} and "attention" not in states
    assert states[0] == "pending" and states[1] == "failed"  # 401: not the item's fault; the network error is
    assert states.count("pending") > 1  # and those never started are untouched
    assert all(i["error"] is None for i in run["items"] if i["state"] == "pending")


def test_a_refused_item_stops_nothing(runs):
    run = runs["refused"]
    assert run["result"]["result"] == "done"
    assert [(i["id"], i["state"]) for i in run["items"]] == [
        ("f500", "sent"), ("f501", "attention"), ("f502", "sent"), ("f503", "sent"), ("f504", "sent")]
    assert run["items"][1]["error"] == "taken"
