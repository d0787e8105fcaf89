"""The generator's SQL: lookup tables of the reference data, and the statement that makes a day's rows.

One ``INSERT … SELECT`` per local day makes that day's findings inside SQLite, in capture order:
  * ``r`` — a recursive CTE, one row per finding, carrying eight Park–Miller streams (x·a mod 2³¹−1,
    a different full-period multiplier each, seeded per day from Python's seeded Random) and the
    capture time. Each choice reads its own stream, or digits of one (x mod 100, x / 100 mod 19, …),
    so the same seed gives the same rows. Integer arithmetic only: SQLite turns an overflowing product
    into a float, and x·a stays below 2⁶².
  * ``p`` — the choices, each one seek into a small table keyed by the number the streams give:
    community (weighted pool; yesterday the report street gets exactly one row in every
    count/report), place (site and zone), status and category, note and inspector; then the time of
    each workflow step as if it had happened, and what the workflow shows now: a step that would lie
    in the future has not happened, so the version — the number of actions plus one — falls back
    (verified 6 → rectified 5 → acknowledged 4 → dispatched 3). Materialised, so the final SELECT
    reads columns instead of re-evaluating these expressions.
  * the final SELECT keeps each column its version implies and writes times in the dialect's text form
    (naive UTC, microseconds present). Overdue marks follow workflow._overdue_mark and mark_overdue:
    the deadline, stamped when the finding left the party's hands late (rectified or disputed after
    it) or, still in their hands, once it has passed. A dispute is taken from dispatched (version 4,
    not acknowledged), at the time an acknowledgement would have come.
Capture times are stratified over 07:00–19:00 local (row k of n lies in the k-th n-th of the span), so
ids ascend with ``captured_at``.
"""
from __future__ import annotations

import hashlib
import math
import random
import sqlite3
from dataclasses import dataclass

OK_PERCENT = 15
SITE_TENTHS = 7  # of problems, those tied to a site (the rest are found in the street)
UTC_OFFSET = 8 * 3600  # Asia/Shanghai has no daylight saving time
PATROL_SECONDS = 12 * 3600
PHOTO_SHA = hashlib.sha256(b"bench photo").hexdigest()  # one stored photo for all, never read
# (status, weight of 100) of a problem by age: yesterday's are mid-loop, older ones mostly closed.
RECENT = (("submitted", 25), ("rejected", 3), ("duplicate", 2), ("accepted", 5), ("dispatched", 15),
          ("acknowledged", 15), ("disputed", 1), ("rectified", 30), ("verified", 4))
OLDER = (("submitted", 4), ("rejected", 6), ("duplicate", 4), ("accepted", 1), ("dispatched", 1),
         ("acknowledged", 1), ("disputed", 1), ("rectified", 5), ("verified", 77))
# The version each status has when the workflow got there the short way (create, accept, dispatch, …).
VERSION = {"submitted": 1, "rejected": 2, "duplicate": 2, "accepted": 2, "dispatched": 3, "acknowledged": 4,
           "disputed": 4, "rectified": 5, "verified": 6}
NOTES = ("", "", "", "门口堆放杂物", "垃圾桶满溢", "摊位占道", "墙面小广告", "活禽区门帘未放下", "积水未清理")
MODULUS = 2**31 - 1
MULTIPLIERS = (48271, 16807, 69621, 39373, 742938285, 950706376, 1226874159, 62089911)
STREAMS = "abcdefgh"
POOL = 1 << 20  # g_comm ids: pool × POOL + slot (0: every community, 1: the report street, 2: the others)


@dataclass
class Pools:
    sizes: tuple[int, int, int]  # slots in the community pools 0, 1, 2
    kinds: int  # status × category combinations per age
    people: int  # note × inspector combinations
    report_share: float  # the report street's weight among all communities
    report_street_id: int


def load_reference(con: sqlite3.Connection, report_street: str) -> Pools:
    """Temporary lookup tables, each keyed by an INTEGER PRIMARY KEY the SELECT computes (one seek)."""
    communities = con.execute(
        "SELECT c.id, c.street_id, s.name FROM communities c JOIN streets s ON s.id = c.street_id "
        "WHERE c.retired_at IS NULL ORDER BY c.id").fetchall()
    sites = con.execute("SELECT id, community_id, kind FROM sites WHERE retired_at IS NULL ORDER BY id").fetchall()
    zones = con.execute("SELECT id, site_id FROM zones WHERE retired_at IS NULL ORDER BY id").fetchall()
    categories = con.execute("SELECT id, deadline_unit, deadline_value FROM categories "
                             "WHERE retired_at IS NULL ORDER BY id").fetchall()
    inspectors = [uid for (uid,) in con.execute(
        "SELECT u.id FROM users u JOIN user_roles r ON r.user_id = u.id WHERE r.role = 'inspector' ORDER BY u.id")]
    # workflow_rules.default_party: what is found in a market goes to its manager, if it has an active one.
    managed = {sid for (sid,) in con.execute(
        "SELECT us.site_id FROM user_sites us JOIN users u ON u.id = us.user_id "
        "JOIN user_roles r ON r.user_id = u.id AND r.role = 'manager' WHERE NOT u.disabled")}
    if not communities or not categories or not inspectors:
        raise SystemExit("run `flask db upgrade` and `flask seed-demo --no-history` first")
    report = [cid for cid, _street, name in communities if name == report_street]
    if not report:
        raise SystemExit(f"no street named {report_street}")

    # Places of a community: each site × Z zone slots, Z the lcm of its sites' zone counts, so a site is
    # picked uniformly and then one of its zones (or none, for a site without zones).
    zones_of: dict[int, list[int]] = {}
    for zid, sid in zones:
        zones_of.setdefault(sid, []).append(zid)
    con.execute("CREATE TEMP TABLE g_place (id INTEGER PRIMARY KEY, site_id INTEGER, zone_id INTEGER, "
                "market_party INTEGER)")
    con.execute("CREATE TEMP TABLE g_comm (id INTEGER PRIMARY KEY, community_id INTEGER, place_base INTEGER, "
                "places INTEGER)")
    place_base: dict[int, tuple[int, int]] = {}
    rows: list[tuple] = []
    for cid, _street, _name in communities:
        own = [(sid, kind) for sid, community, kind in sites if community == cid]
        z = math.lcm(*(len(zones_of.get(sid, ())) or 1 for sid, _kind in own)) if own else 1
        place_base[cid] = (len(rows), len(own) * z)
        for sid, kind in own:
            zs = zones_of.get(sid)
            rows += [(len(rows) + j, sid, zs[j % len(zs)] if zs else None, int(kind == "market" and sid in managed))
                     for j in range(z)]
    con.executemany("INSERT INTO g_place VALUES (?, ?, ?, ?)", rows)
    # The market's community is busiest: weight 3 against 1. Yesterday the report street is uniform.
    market = {community for _s, community, kind in sites if kind == "market"}
    weight = {cid: 3 if cid in market else 1 for cid, _street, _name in communities}
    pools = ([cid for cid, _s, _n in communities for _ in range(weight[cid])],
             report,
             [cid for cid, _s, _n in communities if cid not in report for _ in range(weight[cid])])
    for pool, members in enumerate(pools):
        con.executemany("INSERT INTO g_comm VALUES (?, ?, ?, ?)",
                        [(pool * POOL + slot, cid, *place_base[cid]) for slot, cid in enumerate(members)])

    # Status (by age) and category in one seek: id = age × kinds + status slot + 100 × category slot.
    con.execute("CREATE TEMP TABLE g_kind (id INTEGER PRIMARY KEY, status TEXT, version INTEGER, "
                "category_id INTEGER, hours INTEGER, days INTEGER)")
    kinds = 100 * len(categories)
    for recent, mix in ((0, OLDER), (1, RECENT)):
        slots = [status for status, w in mix for _ in range(w)]
        assert len(slots) == 100
        con.executemany("INSERT INTO g_kind VALUES (?, ?, ?, ?, ?, ?)", [
            (recent * kinds + i, slots[i % 100], VERSION[slots[i % 100]], cat_id,
             max(1, value) if unit == "hours" else None, max(0, value) if unit == "days" else 0)
            for i, (cat_id, unit, value) in ((i, categories[i // 100]) for i in range(kinds))])
    con.execute("CREATE TEMP TABLE g_who (id INTEGER PRIMARY KEY, note TEXT, inspector_id INTEGER)")
    con.executemany("INSERT INTO g_who VALUES (?, ?, ?)", [
        (i, NOTES[i % len(NOTES)], inspectors[i // len(NOTES)]) for i in range(len(NOTES) * len(inspectors))])
    street_id = next(street for cid, street, _name in communities if cid == report[0])
    return Pools((len(pools[0]), len(pools[1]), len(pools[2])), kinds, len(NOTES) * len(inspectors),
                 sum(weight[c] for c in report) / sum(weight.values()), street_id)


def day_params(pools: Pools, rnd: random.Random, *, first_id: int, count: int, report: int, start: int, now: int,
               recent: bool) -> dict:
    params = {s: rnd.randrange(1, MODULUS) for s in STREAMS}
    return {**params, "first_id": first_id, "count": count, "report": report, "start": start, "now": now,
            "age": pools.kinds * int(recent), "pool0": pools.sizes[0], "pool1": pools.sizes[1],
            "pool2": pools.sizes[2], "kinds": pools.kinds, "people": pools.people}


def _ts(expr: str) -> str:
    return f"datetime({expr}, 'unixepoch') || '.000000'"


def _uuid7(ms: str, id_: str, random42: str) -> str:
    """A time-ordered (version 7, RFC 9562) UUID: the millisecond, then the row id as a 32-bit counter
    (rand_a and the top of rand_b, around the variant bits), then 42 random bits. Unique because the id
    is, and ascending with the id because ids ascend with capture time: the unique index on uuid is
    appended to instead of taking 1.85 million inserts at random places (~2 µs each, ~4 s of CPU)."""
    return (f"printf('%08x-%04x-7%03x-%04x-%012x', ({ms}) / 65536, ({ms}) % 65536, ({id_}) / 1048576 % 4096, "
            f"32768 + ({id_}) / 64 % 16384, ({id_}) % 64 * 4398046511104 + {random42})")


def _captured(k: str, a: str) -> str:
    return f":start + ({k} * {PATROL_SECONDS * 1000} + {a} / 4096 % 1000 * {PATROL_SECONDS}) / (:count * 1000)"


_NEXT = [f"{s} * {m} % {MODULUS}" for s, m in zip(STREAMS, MULTIPLIERS)]
_ACC = "(captured + 1080 + e % 13320)"
_DISP = f"({_ACC} + d / 7200 % 1200)"
_ACK = f"({_DISP} + 360 + f % 10800)"
_RECT = f"({_ACK} + 1800 + g % 108000)"
_VER = f"({_RECT} + 1800 + h % 86400)"
_OK = f"(gc.places > 0 AND b % 100 < {OK_PERCENT})"

FINDINGS = f"""
INSERT INTO findings (id, uuid, kind, inspector_id, captured_at, captured_offset_min, received_at, updated_at,
  community_id, site_id, zone_id, category_id, note, latitude, longitude, accuracy_m, payload_hash, status,
  version, deadline, party_kind, party_community_id, party_site_id, accepted_at, dispatched_at,
  acknowledged_at, rectified_at, verified_at, overdue_at, duplicate_of_id, created_at)
WITH RECURSIVE r(k, {", ".join(STREAMS)}, captured) AS (
  SELECT 0, {", ".join(":" + s for s in STREAMS)}, {_captured("0", ":a")}
  UNION ALL SELECT k + 1, {", ".join(_NEXT)}, {_captured("(k + 1)", _NEXT[0])} FROM r WHERE k + 1 < :count
),
p AS MATERIALIZED (
  SELECT :first_id + k AS id, captured, min(:now, captured + d % 7200) AS received, gw.inspector_id,
    gc.community_id, gp.site_id, gp.zone_id, coalesce(gp.market_party, 0) AS market_party, {_OK} AS ok,
    CASE WHEN {_OK} THEN 'ok' ELSE gk.status END AS s0, CASE WHEN {_OK} THEN 1 ELSE gk.version END AS v0,
    CASE WHEN {_OK} THEN 1 WHEN gk.version < 4 THEN gk.version WHEN {_ACK} >= :now THEN 3
         WHEN gk.version = 4 OR {_RECT} >= :now THEN 4 WHEN gk.version = 5 OR {_VER} >= :now THEN 5 ELSE 6 END AS v,
    gk.category_id, gw.note, {_ACC} AS t_acc, {_DISP} AS t_disp, {_ACK} AS t_ack, {_RECT} AS t_rect, {_VER} AS t_ver,
    CASE WHEN gk.hours IS NOT NULL THEN {_DISP} + gk.hours * 3600
         ELSE (({_DISP} + {UTC_OFFSET}) / 86400 + 1 + gk.days) * 86400 - {UTC_OFFSET} - 1 END AS due,
    36.45 + e / 13320 % 1000 * 0.00003 AS lat, 115.96 + f / 10800 % 1000 * 0.00005 AS lon,
    5.0 + g / 108000 % 20 AS accuracy,
    {_uuid7("captured * 1000", ":first_id + k", "e % 2097152 * 2097152 + f % 2097152")} AS uuid
  FROM r
  JOIN temp.g_comm gc ON gc.id = CASE
    WHEN :report = 0 THEN a % :pool0
    WHEN ((k + 1) * :report) / :count > (k * :report) / :count THEN {POOL} + a % :pool1
    ELSE {2 * POOL} + a % :pool2 END
  LEFT JOIN temp.g_place gp ON gp.id = gc.place_base + b / 1000 % gc.places
    AND ({_OK} OR b / 100 % 10 < {SITE_TENTHS})
  JOIN temp.g_kind gk ON gk.id = :age + c % :kinds
  JOIN temp.g_who gw ON gw.id = c / :kinds % :people
)
SELECT id, uuid, CASE WHEN ok THEN 'ok' ELSE 'problem' END, inspector_id, {_ts("captured")}, 480,
  {_ts("received")},
  {_ts("CASE v WHEN 1 THEN received WHEN 2 THEN t_acc WHEN 3 THEN t_disp WHEN 4 THEN t_ack WHEN 5 THEN t_rect "
       "ELSE t_ver END")},
  community_id, site_id, zone_id, CASE WHEN NOT ok THEN category_id END, CASE WHEN ok THEN '' ELSE note END,
  lat, lon, accuracy, '{PHOTO_SHA}',
  CASE WHEN v = v0 THEN s0 WHEN v = 3 THEN 'dispatched' WHEN v = 4 THEN 'acknowledged' ELSE 'rectified' END, v,
  CASE WHEN v >= 3 THEN {_ts("due")} END,
  CASE WHEN v >= 3 THEN CASE WHEN market_party THEN 'market' ELSE 'community' END END,
  CASE WHEN v >= 3 AND NOT market_party THEN community_id END,
  CASE WHEN v >= 3 AND market_party THEN site_id END,
  CASE WHEN v >= 3 OR s0 = 'accepted' THEN {_ts("t_acc")} END,
  CASE WHEN v >= 3 THEN {_ts("t_disp")} END,
  CASE WHEN v >= 4 AND s0 <> 'disputed' THEN {_ts("t_ack")} END,
  CASE WHEN v >= 5 THEN {_ts("t_rect")} END,
  CASE WHEN v = 6 THEN {_ts("t_ver")} END,
  CASE WHEN CASE WHEN v >= 5 THEN t_rect > due WHEN v < 3 THEN 0 WHEN v = 4 AND s0 = 'disputed' THEN t_ack > due
                 ELSE due < :now END THEN {_ts("due")} END,
  NULL, {_ts("received")}
FROM p
"""

# One before-photo per problem, in finding order (so photo ids ascend too); its uuid is the finding's
# one millisecond later, so it is unique and ascends with the photo id as well.
PHOTOS = f"""
INSERT INTO photos (uuid, uploader_id, finding_id, kind, position, received_sha256, sha256, content_type,
  byte_size, width, height, phash, taken_at, created_at, view_sha256, thumb_sha256, marked_sha256)
SELECT printf('%08x-%04x', ms / 65536, ms % 65536) || substr(uuid, 14), inspector_id, id, 'before', 0,
  '{PHOTO_SHA}', '{PHOTO_SHA}', 'image/jpeg', 350000, 1600, 1200, '0f0f0f0f0f0f0f0f', captured_at, received_at,
  '{PHOTO_SHA}', '{PHOTO_SHA}', '{PHOTO_SHA}'
FROM (SELECT *, (unixepoch(captured_at) * 1000 + 1) AS ms FROM findings
      WHERE id BETWEEN :first + 1 AND :last AND kind = 'problem') ORDER BY id
"""
