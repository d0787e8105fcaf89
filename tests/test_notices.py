"""Chat-group notices end to end, with a local HTTP server standing in for 企业微信 / 钉钉.

A dispatch queues exactly one notice in the dispatch's transaction; ``deliver_due`` posts it in the
platform's format (DingTalk signed); a receiver that fails twice then succeeds gets it once; the
daily report arrives split into parts within the robot's limit; a broken robot never breaks dispatch.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import uuid
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote_plus, urlsplit
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from tests.factories import category, make_community, make_finding, make_site, make_street, make_user
from webapp.extensions import db
from webapp.models import AuditEvent, Event, Finding, Notice, Webhook
from webapp.services import notice_delivery, notice_sender, notices, webhooks
from webapp.services.errors import Invalid
from webapp.services.workflow import apply_action

SECRET = "SEC0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"


class Receiver:
    """Records every POST; answers from a script of (HTTP status, JSON body), then 200 errcode 0."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.script: list[tuple[int, dict]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 — http.server's naming
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with outer.lock:
                    status, body = outer.script.pop(0) if outer.script else (200, {"errcode": 0, "errmsg": "ok"})
                    outer.requests.append({"path": self.path, "query": parse_qs(urlsplit(self.path).query),
                                           "body": json.loads(raw), "content_type": self.headers["Content-Type"],
                                           "answered": (status, body.get("errcode"))})
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def accepted(self) -> list[dict]:
        return [r for r in self.requests if r["answered"] == (200, 0)]

    def close(self) -> None:
        if self.thread.is_alive():
            self.server.shutdown()
            self.server.server_close()


@pytest.fixture
def receiver(app):
    saved = {k: app.config[k] for k in ("NOTICE_ALLOWED_HOSTS", "PUBLIC_BASE_URL") if k in app.config}
    app.config["NOTICE_ALLOWED_HOSTS"] = ("127.0.0.1",)
    app.config["PUBLIC_BASE_URL"] = "https://xuncha.example.cn"
    server = Receiver()
    yield server
    server.close()
    for key in ("NOTICE_ALLOWED_HOSTS", "PUBLIC_BASE_URL"):
        app.config.pop(key, None)
    app.config.update(saved)


@pytest.fixture
def market(ctx):
    """古楼街道 › 香江社区 › 湖西早市 with its manager, a desk clerk and an inspector."""
    street = make_street("古楼街道")
    community = make_community(street, "香江社区")
    site = make_site(community, "湖西早市", kind="market", zones=("活禽区",))
    people = {
        "desk": make_user("desk", roles=("desk",)),
        "insp": make_user("insp", roles=("inspector",)),
        "mgr": make_user("huxi-mgr", roles=("manager",), sites=[site]),
    }
    category("poultry_open")
    db.session.commit()
    return street, community, site, people


def add_hook(owner, receiver, kind="wecom", secret="", **kw) -> Webhook:
    admin = make_user(f"admin{uuid.uuid4().hex[:6]}", roles=("admin",))
    db.session.commit()
    path = "/cgi-bin/webhook/send?key=wecomkey1234" if kind == "wecom" else "/robot/send?access_token=ding5678"
    return webhooks.save_webhook(admin, owner, webhooks.WebhookData(kind=kind, url=receiver.url + path,
                                                                    secret=secret, **kw))


def dispatch(people, finding: Finding, now: datetime | None = None) -> None:
    desk = people["desk"]
    apply_action(desk, finding.uuid, str(uuid.uuid4()), {"type": "accept"}, now=now)
    apply_action(desk, finding.uuid, str(uuid.uuid4()), {"type": "dispatch", "party": "auto"}, now=now)


def poultry_finding(people, site, **kw) -> Finding:
    finding = make_finding(people["insp"], site.community, site=site, category_code="poultry_open",
                           zone=site.zones[0], note="活禽区门帘未放下", **kw)
    db.session.commit()
    return finding


def test_dispatch_queues_one_wecom_notice_and_worker_posts_it(app, receiver, market):
    street, community, site, people = market
    hook = add_hook(site, receiver)
    finding = poultry_finding(people, site)
    dispatch(people, finding)

    queued = list(db.session.scalars(select(Notice)))
    assert len(queued) == 1 and queued[0].event_type == "dispatch" and queued[0].webhook_id == hook.id
    assert receiver.requests == []  # nothing is posted inside the request

    stats = notice_sender.deliver_due()
    assert stats.sent == 1
    (req,) = receiver.requests
    assert req["path"] == "/cgi-bin/webhook/send?key=wecomkey1234"
    assert req["content_type"].startswith("application/json")
    assert set(req["body"]) == {"msgtype", "text"} and req["body"]["msgtype"] == "text"
    content = req["body"]["text"]["content"]
    assert set(req["body"]["text"]) == {"content"}
    for expected in ("香江社区", "湖西早市(活禽区)", "活禽/屠宰区未密闭", "活禽区门帘未放下",
                     f"https://xuncha.example.cn/tasks/#task-{finding.uuid}", "请于"):
        assert expected in content
    deadline = db.session.get(Finding, finding.id).deadline.astimezone(
        ZoneInfo(app.config["LOCAL_TIMEZONE"]))
    assert deadline.strftime("%m月%d日 %H:%M") in content

    db.session.expire_all()
    notice = db.session.get(Notice, queued[0].id)
    assert notice.status == "sent" and notice.attempts == 1
    (attempt,) = notice.attempt_rows
    assert (attempt.ok, attempt.http_status, attempt.errcode) == (True, 200, 0)
    # Running the worker again sends nothing more: exactly one message for one dispatch.
    assert notice_sender.deliver_due().sent == 0
    assert len(receiver.requests) == 1


def test_dingtalk_body_and_signature_verify(app, receiver, market):
    street, community, site, people = market
    add_hook(community, receiver, kind="dingtalk", secret=SECRET)
    people["mgr"].disabled = True  # no active manager: the market's problem goes to its community
    db.session.commit()
    dispatch(people, poultry_finding(people, site))
    notice_sender.deliver_due()
    (req,) = receiver.requests
    assert req["path"].startswith("/robot/send?access_token=ding5678&timestamp=")
    timestamp = req["query"]["timestamp"][0]
    assert abs(int(timestamp) - datetime.now(timezone.utc).timestamp() * 1000) < 60_000
    expected = base64.b64encode(hmac.new(SECRET.encode(), f"{timestamp}\n{SECRET}".encode(),
                                         hashlib.sha256).digest()).decode()
    assert req["query"]["sign"] == [expected]  # parse_qs undid the URL encoding
    assert req["body"]["msgtype"] == "text" and "香江社区" in req["body"]["text"]["content"]


def test_signature_matches_dingtalk_reference_recipe():
    # The recipe DingTalk documents: HmacSHA256(secret, timestamp + "\n" + secret), base64, then urlencode.
    sign = notice_delivery.dingtalk_sign("this is secret", 1577262236757)
    digest = hmac.new(b"this is secret", b"1577262236757\nthis is secret", hashlib.sha256).digest()
    assert sign == base64.b64encode(digest).decode()
    url = notice_delivery.signed_url("https://oapi.dingtalk.com/robot/send?access_token=x", "this is secret",
                                     1577262236757)
    assert url.endswith("&timestamp=1577262236757&sign=" + quote_plus(sign))


def test_failing_receiver_retried_with_backoff_and_delivered_once(app, receiver, market):
    street, community, site, people = market
    add_hook(site, receiver)
    dispatch(people, poultry_finding(people, site))
    receiver.script = [(502, {"error": "bad gateway"}), (200, {"errcode": 45009, "errmsg": "api freq out of limit"})]
    t0 = datetime.now(timezone.utc)

    assert notice_sender.deliver_due(now=t0).failed_attempts == 1
    notice = db.session.scalar(select(Notice))
    assert notice.status == "pending" and notice.next_attempt_at == t0 + timedelta(seconds=30)
    assert notice_sender.deliver_due(now=t0 + timedelta(seconds=10)).failed_attempts == 0  # not due yet
    assert notice_sender.deliver_due(now=t0 + timedelta(seconds=31)).failed_attempts == 1
    db.session.expire_all()
    notice = db.session.scalar(select(Notice))
    assert notice.next_attempt_at == t0 + timedelta(seconds=31 + 60)  # doubled
    assert notice_sender.deliver_due(now=t0 + timedelta(seconds=95)).sent == 1
    assert notice_sender.deliver_due(now=t0 + timedelta(hours=3)).sent == 0

    assert len(receiver.requests) == 3 and len(receiver.accepted()) == 1
    db.session.expire_all()
    notice = db.session.scalar(select(Notice))
    assert notice.status == "sent" and notice.attempts == 3
    answers = [(a.ok, a.http_status, a.errcode) for a in notice.attempt_rows]
    assert answers == [(False, 502, None), (False, 200, 45009), (True, 200, 0)]
    assert notice.attempt_rows[1].errmsg == "api freq out of limit"


def test_gives_up_after_max_attempts_keeps_notice_and_admin_can_resend(app, receiver, market):
    street, community, site, people = market
    add_hook(site, receiver)
    dispatch(people, poultry_finding(people, site))
    saved = app.config["NOTICE_MAX_ATTEMPTS"]
    app.config["NOTICE_MAX_ATTEMPTS"] = 2
    try:
        receiver.script = [(200, {"errcode": 93000, "errmsg": "invalid webhook url"})] * 2
        t0 = datetime.now(timezone.utc)
        notice_sender.deliver_due(now=t0)
        stats = notice_sender.deliver_due(now=t0 + timedelta(minutes=5))
        assert stats.gave_up == 1
        notice = db.session.scalar(select(Notice))
        assert notice.status == "failed" and "93000" in notice.last_error
        notices.resend(people["desk"], notice)
        assert notice_sender.deliver_due(now=t0 + timedelta(minutes=6)).sent == 1
    finally:
        app.config["NOTICE_MAX_ATTEMPTS"] = saved
    assert len(receiver.accepted()) == 1


def test_unreachable_robot_never_breaks_dispatch(app, receiver, market):
    street, community, site, people = market
    add_hook(site, receiver)
    receiver.close()  # the platform is down
    finding = poultry_finding(people, site)
    dispatch(people, finding)
    db.session.expire_all()
    assert db.session.get(Finding, finding.id).status == "dispatched"
    stats = notice_sender.deliver_due()
    assert stats.failed_attempts == 1
    notice = db.session.scalar(select(Notice))
    assert notice.status == "pending" and notice.attempt_rows[0].http_status is None
    assert "ConnectionRefused" in notice.attempt_rows[0].error or "Errno" in notice.attempt_rows[0].error
    assert "wecomkey1234" not in notice.attempt_rows[0].error


def test_no_webhook_means_no_notice_and_chain_falls_back_to_street(app, receiver, market):
    street, community, site, people = market
    dispatch(people, poultry_finding(people, site))
    assert db.session.scalar(select(func.count(Notice.id))) == 0
    hook = add_hook(street, receiver)
    dispatch(people, poultry_finding(people, site))
    (notice,) = db.session.scalars(select(Notice))
    assert notice.webhook_id == hook.id


def test_reopen_queues_a_second_notice_but_a_replayed_action_does_not(app, receiver, market):
    street, community, site, people = market
    add_hook(site, receiver)
    finding = poultry_finding(people, site)
    desk = people["desk"]
    apply_action(desk, finding.uuid, str(uuid.uuid4()), {"type": "accept"})
    action = str(uuid.uuid4())
    apply_action(desk, finding.uuid, action, {"type": "dispatch", "party": "auto"})
    apply_action(desk, finding.uuid, action, {"type": "dispatch", "party": "auto"})  # a phone's resend
    assert db.session.scalar(select(func.count(Notice.id))) == 1
    dispatched = db.session.scalar(select(Event).where(Event.to_status == "dispatched"))
    assert notices.enqueue_dispatch_notice(finding, dispatched.id) is None  # dedup key already used


def test_daily_report_split_into_parts_within_wecom_limit(app, receiver, market):
    street, community, site, people = market
    hook = add_hook(street, receiver, report_time="18:00", notify_dispatch=False)
    tz = ZoneInfo(app.config["LOCAL_TIMEZONE"])
    day = datetime.now(tz).date()
    morning = datetime.combine(day, datetime.min.time(), tz).replace(hour=8)
    # Enough sites to need several 2048-byte messages.
    for i in range(40):
        s = make_site(community, f"湖西商户{i:02d}号门店", kind="shop_frontage")
        make_finding(people["insp"], community, site=s, category_code="shop_outside", status="accepted",
                     captured_at=morning + timedelta(minutes=i), note=f"店外摆放货物和桌椅第{i}处,占用人行道")
    db.session.commit()

    assert notices.schedule_due(now=datetime.combine(day, datetime.min.time(), tz).replace(hour=17)) == 0
    six = datetime.combine(day, datetime.min.time(), tz).replace(hour=18, minute=1)
    queued = notices.schedule_due(now=six)
    assert queued >= 2
    assert notices.schedule_due(now=six + timedelta(minutes=5)) == 0  # dedup: one report a day
    parts = list(db.session.scalars(select(Notice).where(Notice.webhook_id == hook.id).order_by(Notice.id)))
    assert len(parts) == queued and all(p.event_type == "report" for p in parts)
    assert all(len(p.content.encode()) <= 2048 for p in parts)
    assert parts[0].content.startswith("古楼街道卫生督导通报") and f"（1/{queued}）" in parts[0].content
    assert f"（{queued}/{queued}）" in parts[-1].content
    text = "\n".join(p.content for p in parts)
    for i in range(40):
        assert f"湖西商户{i:02d}号门店" in text  # nothing lost at the seams

    stats = notice_sender.deliver_due(now=six)
    assert stats.sent == queued
    bodies = [r["body"]["text"]["content"] for r in receiver.requests]
    assert bodies == [p.content for p in parts]  # in order


def test_overdue_reminder_at_configured_time(app, receiver, market):
    street, community, site, people = market
    hook = add_hook(site, receiver, overdue_times="9:00, 15:00")
    assert hook.overdue_times == "09:00,15:00"
    tz = ZoneInfo(app.config["LOCAL_TIMEZONE"])
    yesterday = datetime.now(tz).date() - timedelta(days=1)
    dispatched_at = datetime.combine(yesterday, datetime.min.time(), tz).replace(hour=10)
    late = poultry_finding(people, site, captured_at=dispatched_at - timedelta(hours=1))
    dispatch(people, late, now=dispatched_at)  # same-day rule: deadline yesterday 23:59:59
    db.session.execute(Notice.__table__.delete())
    db.session.commit()

    today = yesterday + timedelta(days=1)
    at = datetime.combine(today, datetime.min.time(), tz)
    assert notices.schedule_due(now=at.replace(hour=8, minute=59)) == 0
    assert notices.schedule_due(now=at.replace(hour=9, minute=2)) == 1
    assert notices.schedule_due(now=at.replace(hour=9, minute=30)) == 0
    (notice,) = db.session.scalars(select(Notice))
    assert notice.event_type == "overdue"
    assert "逾期提醒" in notice.content and "湖西早市" in notice.content and "1 件" in notice.content
    assert notices.schedule_due(now=at.replace(hour=15, minute=0)) == 1


def test_webhook_secrets_encrypted_masked_and_not_in_audit(app, receiver, market):
    street, community, site, people = market
    hook = add_hook(community, receiver, kind="dingtalk", secret=SECRET)
    row = db.session.execute(select(Webhook.url_encrypted, Webhook.secret_encrypted, Webhook.url_hint)).one()
    assert "ding5678" not in row.url_encrypted and SECRET not in row.secret_encrypted
    assert row.url_hint == f"{receiver.url}/…access_token=****5678"
    assert webhooks.decrypt(row.url_encrypted).endswith("access_token=ding5678")
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.entity_type == "webhook"))
    assert "ding5678" not in json.dumps(event.after) and SECRET not in json.dumps(event.after)
    assert event.after["secret"] is True and event.entity_id == hook.id


def test_webhook_host_allow_list(app, ctx):
    admin = make_user("root", roles=("admin",))
    street = make_street()
    db.session.commit()
    with pytest.raises(Invalid) as err:
        webhooks.save_webhook(admin, street, webhooks.WebhookData(kind="wecom", url="http://10.0.0.5/internal"))
    assert "url" in err.value.fields
    hook = webhooks.save_webhook(admin, street, webhooks.WebhookData(
        kind="wecom", url="https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"))
    assert hook.url_hint == "https://qyapi.weixin.qq.com/…key=****5aaa"


def test_a_bug_in_queueing_never_fails_the_dispatch(app, receiver, market, monkeypatch, caplog):
    street, community, site, people = market
    add_hook(site, receiver)

    def broken(*args, **kwargs):
        raise RuntimeError("formatting bug")

    monkeypatch.setattr(notices, "enqueue_dispatch_notice", broken)
    finding = poultry_finding(people, site)
    dispatch(people, finding)
    db.session.expire_all()
    assert db.session.get(Finding, finding.id).status == "dispatched"
    assert "could not queue the dispatch notice" in caplog.text


def test_changed_secret_key_is_reported_not_crashed(app, receiver, market):
    street, community, site, people = market
    add_hook(site, receiver)
    dispatch(people, poultry_finding(people, site))
    saved = app.config["SECRET_KEY"]
    app.config["SECRET_KEY"] = "a-different-key"
    try:
        assert notice_sender.deliver_due().failed_attempts == 1
    finally:
        app.config["SECRET_KEY"] = saved
    notice = db.session.scalar(select(Notice))
    assert notice.status == "pending" and "SECRET_KEY" in notice.last_error
    assert receiver.requests == []


def test_rate_limit_order_and_exclusive_claim(app, receiver, market):
    street, community, site, people = market
    add_hook(site, receiver)
    for _ in range(3):
        dispatch(people, poultry_finding(people, site))
    ids = list(db.session.scalars(select(Notice.id).order_by(Notice.id)))
    t0 = datetime.now(timezone.utc)

    # The first notice fails: the two behind it for the same group wait, so the group reads them in order.
    receiver.script = [(500, {})]
    stats = notice_sender.deliver_due(now=t0)
    assert (stats.sent, stats.failed_attempts, len(receiver.requests)) == (0, 1, 1)

    saved = app.config.get("NOTICE_RATE_PER_MINUTE")
    app.config["NOTICE_RATE_PER_MINUTE"] = 2
    try:
        # Two posts a minute: the retry and one more go out, the third waits for the next minute.
        assert notice_sender.deliver_due(now=t0 + timedelta(seconds=40)).sent == 1
        assert notice_sender.deliver_due(now=t0 + timedelta(seconds=50)).sent == 0
        assert notice_sender.deliver_due(now=t0 + timedelta(seconds=101)).sent == 2
    finally:
        app.config.pop("NOTICE_RATE_PER_MINUTE")
        if saved is not None:
            app.config["NOTICE_RATE_PER_MINUTE"] = saved
    sent_order = [r["body"]["text"]["content"] for r in receiver.accepted()]
    contents = [db.session.get(Notice, i).content for i in ids]
    assert sent_order == contents

    # A claimed notice cannot be claimed again until the claim's lease runs out (a crashed worker).
    notice = Notice(dedup_key="test:claim", webhook_id=db.session.get(Notice, ids[0]).webhook_id,
                    event_type="test", content="x", next_attempt_at=t0)
    db.session.add(notice)
    db.session.commit()
    assert notice_sender._claim(notice.id, t0) is True
    assert notice_sender._claim(notice.id, t0 + timedelta(seconds=5)) is False
    assert notice_sender._claim(notice.id, t0 + timedelta(minutes=5)) is True
