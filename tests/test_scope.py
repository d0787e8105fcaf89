"""webapp.scope for every role: the SQL filter and the per-row check must agree, row by row."""
from __future__ import annotations

import pytest
from flask_login import AnonymousUserMixin
from sqlalchemy import select

from tests.factories import make_community, make_finding, make_site, make_street, make_user
from webapp import scope
from webapp.extensions import db
from webapp.models import Community, Finding, Site, Street


@pytest.fixture
def world(ctx):
    """Two streets; a market and a compound in 古楼, a village in 新区; findings routed in every way.

    f_market    by insp1 at the market (community hj)
    f_compound  by insp2 at the compound (community wk)
    f_xinqu     by insp1 in 新区 (community xy)
    f_sent_wk   by insp2 in 新区, dispatched to community wk (the party is not where it was found)
    f_sent_mkt  by insp2 in wk, dispatched to the market's manager
    f_ok        by insp1, a 卫生尚可 record in wk
    """
    gulou, xinqu = make_street("古楼街道"), make_street("新区街道")
    hj, wk = make_community(gulou, "汇金社区"), make_community(gulou, "（示例）王口社区")
    xy = make_community(xinqu, "（示例）西姚社区")
    market = make_site(hj, "湖西早市", kind="market", zones=("活禽区",))
    compound = make_site(wk, "王口新村")
    insp1, insp2 = make_user("insp1"), make_user("insp2")
    f = {
        "f_market": make_finding(insp1, hj, site=market),
        "f_compound": make_finding(insp2, wk, site=compound),
        "f_xinqu": make_finding(insp1, xy),
        "f_sent_wk": make_finding(insp2, xy, status="dispatched", party_kind="community", party_community=wk),
        "f_sent_mkt": make_finding(insp2, wk, status="dispatched", party_kind="market", party_site=market),
        "f_ok": make_finding(insp1, wk, kind="ok"),
    }
    users = {
        "insp1": insp1,
        "insp2": insp2,
        "community_wk": make_user("cw", roles=("community",), communities=[wk]),
        "manager_market": make_user("mm", roles=("manager",), sites=[market]),
        "leader_gulou": make_user("lg", roles=("leader",), streets=[gulou]),
        "leader_xinqu": make_user("lx", roles=("leader",), streets=[xinqu]),
        "desk": make_user("dk", roles=("desk",)),
        "admin": make_user("ad", roles=("admin",)),
        "insp2_and_community_hj": make_user("ic", roles=("inspector", "community"), communities=[hj]),
        "manager_and_leader_xinqu": make_user("ml", roles=("manager", "leader"), sites=[market], streets=[xinqu]),
        "disabled_desk": make_user("dd", roles=("desk",), disabled=True),
        "disabled_inspector": make_user("di", roles=("inspector",), disabled=True),
        "community_without_scope": make_user("cn", roles=("community",)),
        "leader_without_scope": make_user("ln", roles=("leader",)),
    }
    # insp2_and_community_hj reports too, so the union has something of its own to add.
    f["f_by_multi"] = make_finding(users["insp2_and_community_hj"], xy)
    db.session.commit()
    return {"findings": f, "users": users, "places": {"gulou": gulou, "xinqu": xinqu, "hj": hj, "wk": wk,
                                                        "xy": xy, "market": market, "compound": compound}}


EVERYTHING = {"f_market", "f_compound", "f_xinqu", "f_sent_wk", "f_sent_mkt", "f_ok", "f_by_multi"}
EXPECTED = {
    "insp1": {"f_market", "f_xinqu", "f_ok"},  # own only
    "insp2": {"f_compound", "f_sent_wk", "f_sent_mkt"},
    "community_wk": {"f_compound", "f_sent_wk", "f_sent_mkt", "f_ok"},  # found in wk, or sent to wk
    "manager_market": {"f_market", "f_sent_mkt"},  # at the market, or sent to its manager
    "leader_gulou": {"f_market", "f_compound", "f_sent_mkt", "f_ok"},  # found in the street's communities
    "leader_xinqu": {"f_xinqu", "f_sent_wk", "f_by_multi"},
    "desk": EVERYTHING,
    "admin": EVERYTHING,
    "insp2_and_community_hj": {"f_by_multi", "f_market"},  # own ∪ community hj
    "manager_and_leader_xinqu": {"f_market", "f_sent_mkt", "f_xinqu", "f_sent_wk", "f_by_multi"},
    "disabled_desk": set(),
    "disabled_inspector": set(),
    "community_without_scope": set(),
    "leader_without_scope": set(),
}


def _names(world, findings) -> set[str]:
    by_id = {f.id: name for name, f in world["findings"].items()}
    return {by_id[f.id] for f in findings}


@pytest.mark.parametrize("who", sorted(EXPECTED))
def test_finding_filter_and_can_see_agree_for_every_role(world, who):
    user = world["users"][who]
    db.session.expire_all()  # load scopes and rows fresh, as a request would
    rows = db.session.scalars(select(Finding).where(scope.finding_filter(user))).all()
    seen_by_filter = _names(world, rows)
    seen_by_check = {name for name, f in world["findings"].items()
                     if scope.can_see_finding(user, db.session.get(Finding, f.id))}
    assert seen_by_filter == EXPECTED[who]
    assert seen_by_check == EXPECTED[who]


def test_anonymous_sees_nothing(world):
    anonymous = AnonymousUserMixin()
    assert db.session.scalars(select(Finding).where(scope.finding_filter(anonymous))).all() == []
    assert not scope.can_see_finding(anonymous, world["findings"]["f_ok"])
    assert not scope.can_see_finding(None, world["findings"]["f_ok"])
    for helper, model in ((scope.community_filter, Community), (scope.site_filter, Site),
                          (scope.street_filter, Street)):
        assert db.session.scalars(select(model).where(helper(anonymous))).all() == []


def test_disabling_a_user_hides_everything_at_once(world):
    desk = world["users"]["desk"]
    assert scope.can_see_finding(desk, world["findings"]["f_ok"])
    desk.disabled = True
    db.session.commit()
    assert db.session.scalars(select(Finding).where(scope.finding_filter(desk))).all() == []
    assert not scope.can_see_finding(desk, world["findings"]["f_ok"])


PLACES = {
    # who: (communities, sites, streets) visible in pick lists, reports and dashboards
    "insp1": ({"hj", "wk", "xy"}, {"market", "compound"}, {"gulou", "xinqu"}),  # inspectors patrol anywhere
    "desk": ({"hj", "wk", "xy"}, {"market", "compound"}, {"gulou", "xinqu"}),
    "community_wk": ({"wk"}, {"compound"}, {"gulou"}),
    "manager_market": ({"hj"}, {"market"}, {"gulou"}),
    "leader_xinqu": ({"xy"}, set(), {"xinqu"}),
    "manager_and_leader_xinqu": ({"hj", "xy"}, {"market"}, {"gulou", "xinqu"}),
    "disabled_desk": (set(), set(), set()),
    "community_without_scope": (set(), set(), set()),
}


@pytest.mark.parametrize("who", sorted(PLACES))
def test_place_filters(world, who):
    user = world["users"][who]

    def names(model, helper) -> set[str]:
        by_id = {p.id: name for name, p in world["places"].items() if isinstance(p, model)}
        return {by_id[row.id] for row in db.session.scalars(select(model).where(helper(user)))}

    communities = names(Community, scope.community_filter)
    sites = names(Site, scope.site_filter)
    streets = names(Street, scope.street_filter)
    assert (communities, sites, streets) == PLACES[who]
