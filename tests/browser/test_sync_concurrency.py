"""The outbox sends several items at once (sync.CONCURRENCY), in the real browser against the real
server: a backlog of captures and of workflow actions queued offline goes out with more than one
request in flight, yet every finding only after its own photo, and the actions on one finding in the
order they were queued (each expects the version the one before it leaves). A 503 in the middle of
the backlog stops the run from taking new items, the ones in flight finish, and the retry completes
the rest: nothing lost, nothing stored twice. The scheduling's corner cases (stale CSRF token, lost
login, refusals) are driven in Node by tests/test_sync_scheduler.py."""
from __future__ import annotations

import base64
import threading
import time
import uuid as uuidlib
from collections import Counter

import pytest
from sqlalchemy import func, select

from tests.browser.helpers import app_module, jpeg, login, outbox_items, wait_offline_ready, wait_until
from tests.factories import make_user
from tests.workflow_support import digest
from webapp.extensions import db
from webapp.models import Finding, Photo, Site, User
from webapp.services import workflow
from webapp.services.findings import create_finding
from webapp.services.photos import ingest_photo

pytestmark = pytest.mark.browser

CAPTURES = 8
HOLD_S = 0.25  # every PUT is held this long before it goes on, so that overlapping senders overlap visibly
# The acknowledges are held longer: a sender that ignored the order on a finding would start the
# rectify queued behind one while it is still on its way.
SLOW_S = 1.5
# A request the page sends reaches the route handler a little later (Playwright dispatches handlers only
# while the test calls into it): a start logged this long after the page knew of the failure was sent
# after it, too.
SLACK_S = 0.5

ENQUEUE = """async ([urls, captures, actions]) => {
  const outbox = await import(urls.outbox);
  const util = await import(urls.util);
  const bytesOf = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)).buffer;
  const photo = async (b64) => {
    const bytes = bytesOf(b64);
    return { id: util.uuid(), mime: "image/jpeg", bytes, sha256: await util.sha256Hex(bytes), uploaded: false };
  };
  // One queue, interleaved as a day's work would be: capture, action, capture, action …
  const queued = [];
  for (let i = 0; i < Math.max(captures.length, actions.length); i += 1) {
    if (i < captures.length) {
      const c = captures[i];
      const id = util.uuid();
      const p = await photo(c.photo);
      await outbox.enqueue({ id, kind: "finding", userId: c.userId, photos: [p],
        request: { method: "PUT", url: `/api/v1/findings/${id}`, body: { ...c.body, photo_ids: [p.id] } },
        createdAt: new Date(Date.now() + queued.length).toISOString() });
      queued.push(id);
    }
    if (i < actions.length) {
      const a = actions[i];
      const id = util.uuid();
      const photos = a.photo ? [await photo(a.photo)] : [];
      const body = { ...a.body, captured_at: new Date().toISOString() };
      if (photos.length) body.photo_ids = photos.map((p) => p.id);
      await outbox.enqueue({ id, kind: "action", userId: a.userId, photos,
        request: { method: "PUT", url: `/api/v1/findings/${a.finding}/actions/${id}`, body },
        createdAt: new Date(Date.now() + queued.length).toISOString() });
      queued.push(id);
    }
  }
  return queued;
}"""


def dispatched_to_market(data_app, live, seed: int) -> tuple[str, int]:
    """A finding the desk has accepted and dispatched to the market's manager: (uuid, version)."""
    with data_app.app_context():
        inspector = db.session.get(User, live.places.ids["inspector"])
        market = db.session.get(Site, live.places.ids["market"])
        desk = db.session.scalar(select(User).where(User.username == "desk"))
        data = jpeg(seed)
        photo, _ = ingest_photo(inspector, str(uuidlib.uuid4()), data, "image/jpeg", digest(data))
        finding_uuid = str(uuidlib.uuid4())
        create_finding(inspector, finding_uuid, {
            "kind": "problem", "captured_at": workflow.utcnow().isoformat(), "community_id": market.community_id,
            "site_id": market.id, "zone_id": market.zones[0].id, "category_code": "poultry_open",
            "photo_ids": [photo.uuid]})
        workflow.apply_action(desk, finding_uuid, str(uuidlib.uuid4()), {"type": "accept", "party": "auto"})
        version = db.session.scalar(select(Finding.version).where(Finding.uuid == finding_uuid))
        db.session.remove()
    return finding_uuid, version


class Wire:
    """Every /api/v1 request the page makes, held HOLD_S (`slow` paths SLOW_S), then passed to the
    server; logs when each started and when its answer came back. `fail_once` names a URL whose first
    PUT gets a 503 without reaching the server."""

    def __init__(self, page, fail_once: str, slow: set[str]) -> None:
        self.page = page
        self.fail_once = fail_once
        self.slow = slow
        self.events: list[tuple[float, str, str, str, int]] = []  # (time, "start"/"end", method, path, status)
        self.lock = threading.Lock()
        self.failed_item: str | None = None
        self.known_at: float | None = None  # when the page had written the failed item down as "failed"

    def log(self, kind: str, method: str, path: str, status: int = 0) -> None:
        with self.lock:
            self.events.append((time.monotonic(), kind, method, path, status))

    def handle(self, route) -> None:
        request = route.request
        path = request.url.split("?")[0].split("/api/v1/")[1]
        self.log("start", request.method, path)
        if request.method == "PUT":
            self.page.wait_for_timeout((SLOW_S if path in self.slow else HOLD_S) * 1000)
        if request.method == "PUT" and path == self.fail_once:
            self.fail_once = None
            self.failed_item = path.split("/")[-1]
            route.fulfill(status=503, json={"error": {"code": "unavailable", "message": "busy", "fields": {}}})
            self.log("end", request.method, path, 503)
            return
        response = route.fetch()
        self.wait_for_the_page_to_know()
        route.fulfill(response=response)
        self.log("end", request.method, path, response.status)

    def wait_for_the_page_to_know(self) -> None:
        """After the 503 no other answer reaches the page until it has marked the item failed: only then
        could one more finished sender be the one that (wrongly) starts a new item."""
        while self.failed_item and self.known_at is None:
            state = self.page.evaluate("async ([url, id]) => (await (await import(url)).get(id)).state",
                                       [app_module(self.page, "outbox.js"), self.failed_item])
            if state == "failed":
                self.known_at = time.monotonic()
            else:
                self.page.wait_for_timeout(20)

    def puts(self) -> list[tuple[str, float, float, int]]:
        """(path, start, end, status) of every PUT, in the order they started."""
        open_: dict[str, list[float]] = {}
        done = []
        for at, kind, method, path, status in self.events:
            if method != "PUT":
                continue
            if kind == "start":
                open_.setdefault(path, []).append(at)
            else:
                done.append((path, open_[path].pop(0), at, status))
        return sorted(done, key=lambda r: r[1])

    def peak(self) -> int:
        level = top = 0
        for at, kind, method, *_ in sorted(self.events, key=lambda e: (e[0], e[1] == "start")):
            if method == "PUT":
                level += 1 if kind == "start" else -1
                top = max(top, level)
        return top


def test_backlog_goes_concurrently_in_order_per_finding_and_survives_a_503(browser, live, data_app):
    with data_app.app_context():
        market = db.session.get(Site, live.places.ids["market"])
        make_user("desk", roles=("desk",))
        # One phone, one person, both kinds of work: captures as an inspector, tasks as the market's manager.
        both = make_user("both", roles=("inspector", "manager"), sites=[market])
        db.session.commit()
        user_id = both.id
        db.session.remove()
    (first, v1), (second, v2) = dispatched_to_market(data_app, live, 71), dispatched_to_market(data_app, live, 72)

    page = browser.page()
    login(page, "both")
    wait_offline_ready(page)
    urls = {name: app_module(page, f"{name}.js") for name in ("outbox", "util", "sync")}
    concurrency = page.evaluate("async (url) => (await import(url)).CONCURRENCY", urls["sync"])
    browser.context.set_offline(True)

    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    estate = live.places.ids["estate"]
    captures = [{"userId": user_id, "photo": b64(jpeg(100 + n)), "body": {
        "kind": "problem", "captured_at": workflow.utcnow().isoformat(), "community_id": live.places.ids["wenyuan"],
        "site_id": estate, "category_code": "litter", "note": f"积压 {n}"}} for n in range(CAPTURES)]
    action = lambda finding, body, photo=None: {"userId": user_id, "finding": finding, "body": body,  # noqa: E731
                                                "photo": b64(photo) if photo else None}
    # Two actions on each dispatched finding, each expecting the version the one before leaves behind.
    actions = [
        action(first, {"type": "acknowledge", "expected_version": v1}),
        action(second, {"type": "acknowledge", "expected_version": v2}),
        action(first, {"type": "rectify", "expected_version": v1 + 1, "note": "已整改"}, jpeg(81)),
        action(second, {"type": "rectify", "expected_version": v2 + 1, "note": "已整改"}, jpeg(82)),
    ]
    queued = page.evaluate(ENQUEUE, [urls, captures, actions])
    items = {i["id"]: i for i in outbox_items(page)}
    assert [items[i]["state"] for i in queued] == ["pending"] * len(queued)
    photo_owner = {p["id"]: i["id"] for i in items.values() for p in i["photos"]}
    owner_of = lambda path: photo_owner.get(path.split("/")[1]) or path.split("/")[-1]  # noqa: E731
    # The queue: capture, action, capture, action …; the fourth capture's finding meets the 503.
    assert [items[i]["kind"] for i in queued[:8]] == ["finding", "action"] * 4
    failing = f"findings/{queued[6]}"

    acknowledges = {f"findings/{finding}/actions/{queued[i]}" for finding, i in ((first, 1), (second, 3))}
    wire = Wire(page, fail_once=failing, slow=acknowledges)
    browser.context.route("**/api/v1/**", wire.handle)
    with data_app.app_context():
        photos_before = db.session.scalar(select(func.count(Photo.id)))
        db.session.remove()
    browser.context.set_offline(False)  # the page's `online` handler starts the sync
    # The 503 stops the first run; its backoff timer (5 s ± 20 %) starts the second, which sends the rest.
    wait_until(lambda: [i["state"] for i in outbox_items(page)] == ["sent"] * len(queued), timeout=90,
               message="the whole backlog sent")
    browser.context.unroute("**/api/v1/**")
    puts = wire.puts()

    # Several at once, never more than the limit.
    assert concurrency >= 2
    assert 2 <= wire.peak() <= concurrency, (wire.peak(), concurrency)

    # Each item's photos before its request.
    last_photo_end: dict[str, float] = {}
    for path, _, end, status in puts:
        if path.startswith("photos/") and status in (200, 201):
            last_photo_end[owner_of(path)] = max(end, last_photo_end.get(owner_of(path), 0))
    for path, start, _, _ in puts:
        if not path.startswith("photos/") and owner_of(path) in last_photo_end:
            assert start >= last_photo_end[owner_of(path)], f"{path} went before its photo"

    # The actions on one finding strictly one after the other: the rectify (its photo first) starts
    # only once the acknowledge is answered.
    def span(item_id: str) -> tuple[float, float]:
        mine = [(s, e) for path, s, e, _ in puts if owner_of(path) == item_id]
        return min(s for s, _ in mine), max(e for _, e in mine)

    for finding, ack, rectify in ((first, queued[1], queued[5]), (second, queued[3], queued[7])):
        assert (items[ack]["body"]["type"], items[rectify]["body"]["type"]) == ("acknowledge", "rectify")
        assert span(ack)[1] <= span(rectify)[0], "the rectify overtook the acknowledge it depends on"
        with data_app.app_context():
            f = db.session.scalar(select(Finding).where(Finding.uuid == finding))
            assert [e.type for e in f.events][-2:] == ["acknowledge", "rectify"] and f.status == "rectified"
            db.session.remove()

    # The 503: nothing new started until the next run (its GET /session), and the items in flight finished.
    failed_at = next(end for path, _, end, status in puts if path == failing and status == 503)
    retry_at = next(at for at, kind, method, path, _ in wire.events
                    if kind == "start" and method == "GET" and path == "session" and at > failed_at)
    assert wire.known_at is not None
    begun_before = {owner_of(path) for path, start, _, _ in puts if start < wire.known_at + SLACK_S}
    begun_between = {owner_of(path) for path, start, _, _ in puts if wire.known_at + SLACK_S < start < retry_at}
    assert begun_between <= begun_before, f"new items started after the 503: {begun_between - begun_before}"
    in_flight = {owner_of(path) for path, start, end, _ in puts if start < failed_at < end} - {queued[6]}
    assert in_flight, "nothing was in flight beside the failing item: the test proves nothing about finishing"
    answered_in_first_run = {owner_of(path) for path, _, end, status in puts
                             if not path.startswith("photos/") and status in (200, 201) and end < retry_at}
    assert in_flight <= answered_in_first_run, "an item in flight at the 503 was abandoned"

    # Nothing lost, nothing twice: one PUT per photo and per request, but for the finding the 503 refused.
    counts = Counter(path for path, *_ in puts)
    assert counts.pop(failing) == 2 and set(counts.values()) == {1}, counts
    assert len(counts) + 1 == sum(1 + len(i["photos"]) for i in items.values())
    with data_app.app_context():
        stored = {f.uuid: sorted((p.uuid, p.received_sha256) for p in f.photos)
                  for f in db.session.scalars(select(Finding).where(Finding.uuid.in_(
                      [i for i in queued if items[i]["kind"] == "finding"])))}
        photos_after = db.session.scalar(select(func.count(Photo.id)))
        db.session.remove()
    assert stored == {i: sorted((p["id"], p["sha256"]) for p in items[i]["photos"])
                      for i in queued if items[i]["kind"] == "finding"}
    assert photos_after - photos_before == CAPTURES + 2  # a photo per capture and per rectify
