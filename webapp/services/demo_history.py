"""Two weeks of demo patrols, played through the real photo, finding and workflow services.

Each day the two demo inspectors walk a route of the seed page's places in the morning; what they
report then goes round the loop (立案 → 派遣 → 签收 → 整改 → 核查) with the desk, the community worker
and the market manager, at plausible times. Older findings are mostly closed, the last two days hold
every open state, a few were fixed late (overdue), reopened, disputed, rejected or merged as
duplicates. The plan is pure data made from a seeded ``random``; ``play_history`` then runs its steps
in time order, each with the time it "happened".

Only the demo's own accounts act, so only places they serve (汇金社区, （示例）王口社区 and 湖西早市)
get rectified; problems elsewhere are rejected or left open, as they would be without an account
for that community.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import select, update

from ..extensions import db
from ..models import Category, Event, Finding, Photo, Site, User
from .demo import HISTORY_DAYS, accepts_now, at_local, demo_uuid, digest_header, local_zone, rng_for
from .demo_photos import demo_photo

# Notes in the style of the seed page's 督导通报 ("店外摆放酒箱、桌椅等物品" …).
NOTES: dict[str, tuple[str, ...]] = {
    "shop_outside": ("店外摆放酒箱、桌椅等物品", "门店占道经营,门口摆放冰柜", "店外摆放货架,占用人行道"),
    "clutter": ("新出现一堆烂木材需要清理", "楼道口乱堆杂物", "墙角堆放废旧家具"),
    "litter": ("个别楼下有散落垃圾", "绿化带内有散落垃圾", "路边散落塑料袋、烟头"),
    "leaves_water": ("落叶较多", "雨后路面积水", "树下落叶未清扫"),
    "bin_overflow": ("垃圾箱满溢,有异味", "垃圾桶未及时清运", "垃圾箱周边有污水"),
    "flyposting": ("电线杆上乱贴小广告", "墙面乱涂乱画", "楼道内张贴小广告"),
    "hanging": ("楼间乱拉晾衣绳", "店招外乱挂横幅"),
    "illegal_structure": ("楼下私搭简易棚", "院内乱搭乱建需要拆除"),
    "frontage_duties": ("门前五包未落实,门口有垃圾", "商户门前卫生未清扫"),
    "small_shop_hygiene": ("小饭店后厨卫生差", "理发店门口卫生差"),
    "market_zoning": ("果蔬摊位摆到水产品区", "小商品区摊位越线经营"),
    "poultry_open": ("活禽区围帘未放下", "屠宰区未密闭"),
    "pests": ("垃圾点附近苍蝇较多", "发现鼠迹,需投放鼠药"),
    "toilet": ("公厕地面有积水,异味较大", "旱厕未及时清掏"),
    "sewer_blocked": ("下水道堵塞,污水外溢",),
    "road_damage": ("路面坑洼不平,下雨积水",),
    "accessibility": ("盲道被车辆占用",),
    "noticeboard_missing": ("健康教育宣传栏缺失",),
    "staff_absent": ("保洁员未到岗",),
}
OK_NOTES = ("卫生尚可", "卫生尚可,保洁到位", "卫生尚可,垃圾清运及时")
RECTIFY_NOTES = ("已清理完毕", "已通知商户将物品收回店内", "已组织保洁员清扫", "已清运", "已整改到位")
CATEGORIES_BY_KIND: dict[str, tuple[str, ...]] = {
    "residential": ("clutter", "litter", "leaves_water", "bin_overflow", "flyposting", "hanging",
                    "illegal_structure", "sewer_blocked", "noticeboard_missing"),
    "market": ("market_zoning", "poultry_open", "litter", "pests", "bin_overflow", "staff_absent"),
    "shop_frontage": ("shop_outside", "frontage_duties", "small_shop_hygiene", "flyposting"),
    "commercial_street": ("shop_outside", "frontage_duties", "hanging", "flyposting", "accessibility"),
    "back_lane": ("clutter", "litter", "bin_overflow", "leaves_water", "flyposting"),
    "station_area": ("litter", "shop_outside", "accessibility", "bin_overflow"),
    "public_toilet": ("toilet", "pests"),
    "other": ("litter", "clutter", "leaves_water", "road_damage"),
}
ROUTES: dict[str, tuple[str, ...]] = {
    "inspector": ("运河路西沿儿商户", "王口新村", "中通时代豪园二期", "管道局家属院", "湖西早市", "恒昌商业街",
                  "火车站周边", "硫酸厂家属院", "铁路益民小区", "（示例）香江背街小巷", "（示例）站前公厕"),
    "inspector2": ("湖西早市", "王口新村", "聊城二中家属院", "新嘉园小区", "（示例）公园社区背街小巷",
                   "西姚新村", "南朱", "国棉厂家属院"),
}
# The last two days hold every open state; served problems there follow these in turn.
RECENT = {0: ("submitted", "dispatched", "acknowledged", "rectified", "accepted", "disputed"),
          1: ("rectified", "disputed", "verified", "dispatched")}
OLDER = (("verified", 55), ("verified_late", 12), ("reopened", 8), ("rejected", 8), ("dispute_rejected", 5),
         ("dispatched", 6))
UNSERVED = {0: ("submitted", "accepted"), "older": (("rejected", 50), ("dispatched", 35), ("accepted", 15))}
DUPLICATE_DAYS = (2, 6, 10)
# Each photo costs ~0.2 s in the real pipeline (decode, renditions, watermark, fsyncs): these keep the
# whole seeding well under 20 s while every state still appears.
VISITS_PER_DAY = {"inspector": 3, "inspector2": 2}
OK_PHOTO_SHARE = 0.35  # a 卫生尚可 record may carry a photo; most do not
SECOND_PHOTO_SHARE = 0.1


@dataclass
class Step:
    at: datetime
    actor: str
    payload: dict
    uuid: str
    after_photo: str | None = None  # uuid of an after photo to upload first


@dataclass
class Story:
    uuid: str
    inspector: str
    site: Site
    kind: str
    captured_at: datetime
    category: str | None
    zone_id: int | None
    note: str
    photos: list[str]
    location: dict
    steps: list[Step] = field(default_factory=list)


def _served_by(site: Site) -> str | None:
    """The demo account that would rectify a problem here, if any."""
    if site.is_market and site.name == "湖西早市":
        return "manager"
    if site.community.name in ("汇金社区", "（示例）王口社区"):
        return "community"
    return None


def _pick(rng, weighted) -> str:
    names, weights = zip(*weighted)
    return rng.choices(names, weights=weights)[0]


def _iso_local(moment: datetime) -> str:
    return moment.astimezone(local_zone()).isoformat(timespec="seconds")


def _location(rng, site: Site) -> dict:
    return {"lat": round(site.latitude + rng.gauss(0, 0.00015), 6),
            "lon": round(site.longitude + rng.gauss(0, 0.00015), 6), "accuracy_m": float(rng.randint(6, 35))}


def _outcome_steps(story: Story, outcome: str, party: str | None, day: date, rng) -> list[Step]:
    """The workflow steps that lead ``story`` to ``outcome``, at times after its capture."""
    t0, n = story.captured_at, itertools.count()
    steps: list[Step] = []

    def step(at: datetime, actor: str, payload: dict, after: bool = False) -> None:
        index = next(n)
        steps.append(Step(at, actor, payload, demo_uuid("action", story.uuid, index),
                          demo_uuid("after", story.uuid, index) if after else None))

    def next_day(days: int, hour: int, minute: int) -> datetime:
        return at_local(day + timedelta(days=days), time(hour, minute))

    def rectify(at: datetime) -> None:
        step(at, party, {"type": "rectify", "note": rng.choice(RECTIFY_NOTES), "photo_ids": [],
                         "captured_at": _iso_local(at), "location": _location(rng, story.site)}, after=True)

    verify = {"type": "verify", "note": "现场核查,已整改"}
    m = lambda minutes: t0 + timedelta(minutes=minutes)  # noqa: E731
    if outcome == "submitted":
        return steps
    if outcome == "accepted":
        step(m(20), "desk", {"type": "accept"})
    elif outcome == "rejected":
        step(m(40), "desk", {"type": "reject", "reason": rng.choice(["unclear", "already_fixed"]),
                             "note": "照片看不清问题所在" if rng.random() < 0.5 else "到场时已整改"})
    else:
        step(m(30), "desk", {"type": "accept", "party": "auto"})
    if outcome in ("acknowledged", "rectified", "verified", "verified_late"):
        step(m(50), party, {"type": "acknowledge"})
    if outcome == "rectified":
        rectify(m(80))
    elif outcome == "verified":
        rectify(m(rng.randint(120, 300)))
        step(next_day(1, 8, rng.randint(5, 50)), story.inspector, verify)
    elif outcome == "verified_late":  # fixed the next morning: past the same-day deadline
        rectify(next_day(1, 10, rng.randint(0, 50)))
        step(next_day(2, 9, rng.randint(0, 50)), story.inspector, verify)
    elif outcome == "reopened":
        rectify(m(150))
        step(next_day(1, 8, 30), story.inspector, {"type": "reopen", "reason": "not_fixed",
                                                  "note": "现场仍有部分杂物未清理"})
        rectify(next_day(1, 11, rng.randint(0, 40)))
        step(next_day(2, 9, rng.randint(0, 40)), story.inspector, verify)
    elif outcome in ("disputed", "dispute_rejected"):
        step(m(70), party, {"type": "dispute", "reason": "not_ours", "note": "该处不在本单位管辖范围"})
        if outcome == "dispute_rejected":
            step(m(140), "desk", {"type": "reject", "reason": "wrong_place", "note": "核实后不属于该点位,不予立案"})
    return steps


def plan_history(sites: dict[str, Site], categories: dict[str, Category], last_day: date) -> list[Story]:
    """Every story of the demo history, oldest first; ``last_day`` is the most recent patrol day."""
    stories: list[Story] = []
    for age in range(HISTORY_DAYS - 1, -1, -1):
        day = last_day - timedelta(days=age)
        recent = itertools.cycle(RECENT.get(age, ("verified",)))
        unserved_recent = itertools.cycle(UNSERVED[0])
        day_stories: list[Story] = []
        for inspector, start_hour in (("inspector", 8), ("inspector2", 8)):
            rng = rng_for("demo", age, inspector)
            route = [sites[name] for name in ROUTES[inspector] if name in sites]
            if age == 0 and inspector == "inspector":  # the whole recent set, in the places served
                served = [s for s in route if _served_by(s)]
                visits = (served * 2)[:len(RECENT[0])]
            else:
                visits = rng.sample(route, VISITS_PER_DAY[inspector])
            clock = datetime.combine(day, time(start_hour, rng.randint(0, 20)), tzinfo=local_zone())
            for index, site in enumerate(visits):
                clock += timedelta(minutes=rng.randint(12, 25))
                party = _served_by(site)
                forced = age == 0 and inspector == "inspector"
                is_problem = forced or rng.random() < (0.75 if party else 0.35)
                story = _new_story(rng, age, inspector, index, site, clock, is_problem, categories)
                if is_problem:
                    if party and age in RECENT:
                        outcome = next(recent)
                    elif party:
                        outcome = _pick(rng, OLDER)
                    elif age == 0:
                        outcome = next(unserved_recent)
                    else:
                        outcome = _pick(rng, UNSERVED["older"])
                    story.steps = _outcome_steps(story, outcome, party, day, rng)
                day_stories.append(story)
        if age in DUPLICATE_DAYS:
            day_stories.extend(_duplicate_of(day_stories, age, day))
        stories.extend(day_stories)
    return stories


def _new_story(rng, age: int, inspector: str, index: int, site: Site, clock: datetime, is_problem: bool,
               categories: dict[str, Category]) -> Story:
    story_uuid = demo_uuid("finding", age, inspector, index)
    code = None
    zone_id = None
    if is_problem:
        code = rng.choice([c for c in CATEGORIES_BY_KIND.get(site.kind, ("litter",)) if c in categories])
        note = rng.choice(NOTES.get(code, ("",)))
    else:
        note = rng.choice(OK_NOTES)
    if site.zones:
        zone = next((z for z in site.zones if z.name == "活禽区"), None) if code == "poultry_open" else None
        zone_id = (zone or rng.choice(site.zones)).id
    if is_problem:
        photo_count = 2 if rng.random() < SECOND_PHOTO_SHARE else 1
    else:
        photo_count = 1 if rng.random() < OK_PHOTO_SHARE else 0
    photos = [demo_uuid("photo", story_uuid, n) for n in range(photo_count)]
    return Story(story_uuid, inspector, site, "problem" if is_problem else "ok", clock.astimezone(timezone.utc),
                 code, zone_id, note, photos, _location(rng, site))


def _duplicate_of(day_stories: list[Story], age: int, day: date) -> list[Story]:
    """inspector2 reports what inspector already reported; the desk merges it into the first report."""
    target = next((s for s in day_stories if s.kind == "problem" and s.inspector == "inspector"
                   and _served_by(s.site) and not any(st.payload["type"] == "reject" for st in s.steps)), None)
    if target is None:
        return []
    rng = rng_for("duplicate", age)
    at = target.captured_at + timedelta(minutes=25)
    uuid = demo_uuid("finding", age, "inspector2", "dup")
    story = Story(uuid, "inspector2", target.site, "problem", at, target.category, target.zone_id,
                  target.note, [demo_uuid("photo", uuid, 0)], _location(rng, target.site))
    story.steps = [Step(at + timedelta(minutes=35), "desk", {"type": "duplicate", "duplicate_of": target.uuid},
                        demo_uuid("action", uuid, 0))]
    return [story]


def last_patrol_day(now: datetime) -> date:
    """Today once the morning round (and its follow-up) is over, else yesterday: no step is in the future."""
    local_now = now.astimezone(local_zone())
    return local_now.date() if local_now.time() >= time(12, 30) else local_now.date() - timedelta(days=1)


def _photo_bytes(photo_uuid: str, story: Story, at: datetime, who: str, after: bool) -> bytes:
    title = f"{story.site.name} · {'整改后' if after else (story.note[:14] or '巡查')}"
    local = at.astimezone(local_zone())
    return demo_photo(photo_uuid, title, f"{local:%Y-%m-%d %H:%M} {who}", category_code=story.category,
                      after=after, taken_at=local)


def _backdate_creation(finding_uuid: str, received: datetime) -> None:
    """The finding service stamps its own clock on creation; move that to the story's time so the
    trail reads in order (created, then accepted …) instead of every finding arriving today."""
    finding_id = db.session.scalar(select(Finding.id).where(Finding.uuid == finding_uuid))
    db.session.execute(update(Finding).where(Finding.id == finding_id)
                       .values(received_at=received, updated_at=received))
    db.session.execute(update(Event).where(Event.finding_id == finding_id, Event.action_uuid.is_(None))
                       .values(at=received))
    db.session.commit()


def play_history(users: dict[str, User], services, *, now: datetime | None = None) -> tuple[int, int, int]:
    """Run the plan through the services in time order; returns (findings, photos, actions) created."""
    ingest_photo, create_finding, apply_action = services
    from . import workflow

    now = now or datetime.now(timezone.utc)
    sites = {s.name: s for s in db.session.scalars(select(Site))}
    categories = {c.code: c for c in db.session.scalars(select(Category))}
    stories = plan_history(sites, categories, last_patrol_day(now))
    existing = set(db.session.scalars(select(Finding.uuid).where(Finding.uuid.in_([s.uuid for s in stories]))))
    counts = {"findings": 0, "photos": 0, "actions": 0}

    def upload(user: User, photo_uuid: str, story: Story, at: datetime, after: bool) -> None:
        if db.session.scalar(select(Photo.id).where(Photo.uuid == photo_uuid)) is not None:
            return
        data = _photo_bytes(photo_uuid, story, at, user.display_name, after)
        _, created = ingest_photo(user, photo_uuid, data, "image/jpeg", digest_header(data))
        counts["photos"] += created

    ops = [(s.captured_at, 0, s, None) for s in stories if s.uuid not in existing]
    ops += [(st.at, 1, s, st) for s in stories if s.uuid not in existing for st in s.steps]
    ops.sort(key=lambda op: (op[0], op[1]))
    stopped: set[str] = set()
    for at, _order, story, step in ops:
        if at > now or story.uuid in stopped:
            stopped.add(story.uuid)  # the rest of this story has not happened yet
            continue
        if step is None:
            inspector = users[story.inspector]
            for photo_uuid in story.photos:
                upload(inspector, photo_uuid, story, at, after=False)
            payload = {"kind": story.kind, "captured_at": _iso_local(at), "community_id": story.site.community_id,
                       "site_id": story.site.id, "zone_id": story.zone_id, "category_code": story.category,
                       "note": story.note, "location": story.location, "photo_ids": story.photos}
            received = at + timedelta(minutes=3)  # synced a few minutes after the photo was taken
            if accepts_now(create_finding):
                create_finding(inspector, story.uuid, payload, now=received)
            else:
                create_finding(inspector, story.uuid, payload)
                _backdate_creation(story.uuid, received)
            counts["findings"] += 1
            continue
        if db.session.scalar(select(Event.id).where(Event.action_uuid == step.uuid)) is not None:
            continue
        actor = users[step.actor]
        payload = dict(step.payload)
        if step.after_photo:
            upload(actor, step.after_photo, story, at, after=True)
            payload["photo_ids"] = [step.after_photo]
        apply_action(actor, story.uuid, step.uuid, payload, now=at)
        counts["actions"] += 1
    workflow.mark_overdue(now)
    return counts["findings"], counts["photos"], counts["actions"]
