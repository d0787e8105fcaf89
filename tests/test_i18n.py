"""English is a real second language: the catalogue compiles, covers every string the source
extracts today, keeps its placeholders, and the key pages read in English for an English user
(and stay Chinese for everyone else).

The extraction here uses babel.cfg and the same keywords as the command in babel.cfg, so a string
added in Chinese and not yet translated fails ``test_every_source_string_is_translated`` by name.
"""
from __future__ import annotations

import gettext
import io
import json
import re
from datetime import datetime, timedelta, timezone
from html import unescape
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from tests.factories import category, make_community, make_finding, make_site, make_street, make_user
from webapp.extensions import db
from webapp.models import Category

ROOT = Path(__file__).resolve().parent.parent
PO_PATH = ROOT / "webapp" / "translations" / "en" / "LC_MESSAGES" / "messages.po"
# Babel's defaults (_, gettext, ngettext, pgettext …) plus Flask-Babel's lazy forms; babel.cfg says the same.
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None, "lazy_pgettext": ((1, "c"), 2),
            "lazy_ngettext": (1, 2)}
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+")
PLACEHOLDER = re.compile(r"%\(\w+\)[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]|\{\w*\}")


def _catalogue() -> Catalog:
    with PO_PATH.open("rb") as fh:
        return read_po(fh, locale="en")


def _parse_mapping(fileobj):
    from babel.messages import frontend

    parse = getattr(frontend, "parse_mapping_cfg", None) or frontend.parse_mapping
    return parse(fileobj)


def _key(message) -> tuple[str | None, str]:
    msgid = message.id if isinstance(message.id, str) else message.id[0]
    return message.context, msgid


def _translated(message) -> bool:
    strings = message.string if isinstance(message.string, (tuple, list)) else (message.string,)
    return all(s and s.strip() for s in strings)


def _extract_to_pot(path: Path) -> Catalog:
    """What `pybabel extract -F babel.cfg …` writes, written and read back the same way."""
    with (ROOT / "babel.cfg").open() as fh:
        method_map, options_map = _parse_mapping(fh)
    template = Catalog(locale=None)
    for filename, lineno, message, comments, context in extract_from_dir(
            str(ROOT), method_map, options_map, keywords=KEYWORDS, strip_comment_tags=True):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    with path.open("wb") as fh:
        write_po(fh, template)
    with path.open("rb") as fh:
        return read_po(fh)


# --- the catalogue ----------------------------------------------------------------------------------

def test_catalogue_compiles_and_is_clean():
    catalogue = _catalogue()
    problems = [(m.id, [str(e) for e in errors]) for m, errors in catalogue.check()]
    assert not problems, f"format errors in the English catalogue: {problems}"
    fuzzy = [m.id for m in catalogue if m.id and m.fuzzy]
    assert not fuzzy, f"fuzzy entries left in messages.po (check and clear them): {fuzzy}"
    buffer = io.BytesIO()
    write_mo(buffer, catalogue)
    buffer.seek(0)
    compiled = gettext.GNUTranslations(buffer)
    assert compiled.gettext("我的任务") == "My tasks"
    assert compiled.ngettext("已立案并派遣 %(num)d 条。", "已立案并派遣 %(num)d 条。", 2) % {"num": 2} \
        == "Accepted and dispatched 2 problems."
    assert compiled.pgettext("status", "不予立案") == "Rejected"


def test_every_source_string_is_translated(tmp_path):
    extracted = _extract_to_pot(tmp_path / "messages.pot")
    keys = {_key(m) for m in extracted if m.id}
    assert len(keys) > 500, "extraction found too few strings: is babel.cfg still pointing at the source?"
    translated = {_key(m) for m in _catalogue() if m.id and _translated(m)}
    missing = sorted(keys - translated, key=lambda k: (k[0] or "", k[1]))
    assert not missing, (
        f"{len(missing)} source strings have no English translation — run the update in babel.cfg and "
        "translate them in webapp/translations/en/LC_MESSAGES/messages.po:\n"
        + "\n".join(f"  {ctx + ' | ' if ctx else ''}{msgid}" for ctx, msgid in missing))


def _placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


def test_translations_keep_their_placeholders():
    wrong = []
    for m in _catalogue():
        if not m.id or not _translated(m):
            continue
        if isinstance(m.id, str):
            pairs = [(m.id, m.string)]
        else:
            pairs = [(m.id[0], m.string[0])] + [(m.id[1], s) for s in m.string[1:]]
        for source, target in pairs:
            if _placeholders(source) != _placeholders(target):
                wrong.append(f"{source!r} → {target!r}")
    assert not wrong, "placeholders differ between msgid and translation:\n" + "\n".join(wrong)


def test_placeholder_check_can_fail():
    assert _placeholders("已保存,待发送 {n} 条") != _placeholders("Saved, {count} waiting")
    assert _placeholders("%(n)d 小时") != _placeholders("%(n)s hours")
    assert _placeholders("第 %(p)d / %(n)d 页") == _placeholders("Page %(p)d of %(n)d")


# --- pages ------------------------------------------------------------------------------------------

UTC = timezone.utc


@pytest.fixture
def world(ctx):
    """One street, a community with a site and a market, a user per role, and findings for each list."""
    street = make_street("古楼街道")
    community = make_community(street, "汇金社区")
    site = make_site(community, "运河路西沿儿商户", kind="shop_frontage")
    market = make_site(community, "湖西早市", kind="market", zones=("活禽区",))
    users = {
        "inspector": make_user("i18n-insp", roles=("inspector",), streets=[street]),
        "desk": make_user("i18n-desk", roles=("desk",)),
        "staff": make_user("i18n-staff", roles=("community",), communities=[community]),
        "leader": make_user("i18n-leader", roles=("leader",), streets=[street]),
        "admin": make_user("i18n-admin", roles=("admin",)),
    }
    now = datetime.now(UTC)
    make_finding(users["inspector"], community, site=site, category_code="litter", captured_at=now - timedelta(hours=2))
    dispatched = make_finding(users["inspector"], community, site=site, category_code="shop_outside", status="dispatched",
                 captured_at=now - timedelta(hours=3), accepted_at=now - timedelta(hours=1),
                 dispatched_at=now - timedelta(hours=1), deadline=now + timedelta(hours=5),
                 party_kind="community", party_community_id=community.id)
    db.session.commit()
    data = {"litter": category("litter"), "shop_outside": category("shop_outside"),
            # data, not interface: place names, and English category names that quote a Chinese term
            "places": ["古楼街道", "汇金社区", "运河路西沿儿商户", "湖西早市", "活禽区",
                       *(c.name_en for c in db.session.query(Category))],
            # the console edits both names of a category, so it shows the Chinese one too
            "names_zh": [c.name_zh for c in db.session.query(Category)], "site_id": site.id,
            # the daily report lists reviewed problems by the local day they were found
            "report_day": dispatched.captured_at.astimezone(ZoneInfo("Asia/Shanghai")).date()}
    return users, data


def _set_locale(users, locale):
    for user in users.values():
        user.locale = locale
    db.session.commit()


def _json_blocks(html: str) -> list:
    return [json.loads(unescape(body)) for body in
            re.findall(r'<script type="application/json"[^>]*>(.*?)</script>', html, flags=re.S)]


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _chinese_left(html: str, data: list[str]) -> list[str]:
    """Chinese on an English page that is not data (place names, the language's own name)."""
    text = re.sub(r'<script type="application/json"[^>]*>.*?</script>', " ", html, flags=re.S)
    text = " ".join([text, *(s for block in _json_blocks(html) for s in _strings(block))])
    for value in sorted(data + ["中文"], key=len, reverse=True):
        text = text.replace(value, " ")
    return sorted(set(HAN.findall(text)))


# (who, url, English words, Chinese words)
PAGES = [
    ("inspector", "/capture/", ["Take photo", "Save problem", "Clean enough", "Sync now", "My records"],
     ["拍照", "保存问题", "卫生尚可"]),
    ("desk", "/review/", ["Review queue", "Pending review", "Accept and dispatch", "Select all", "Litter"],
     ["审核队列", "待审核", "批量立案并派遣"]),
    ("staff", "/tasks/", ["My tasks", "Acknowledge", "Submit rectification", "Goods outside shop"],
     ["我的任务", "签收", "提交整改"]),
    ("leader", "/reports/", ["Community ranking", "On-time rectification rate", "Export problem list"],
     ["社区排名", "按期整改率", "导出问题清单"]),
    ("admin", "/admin/", ["Overview", "Users", "Places", "Categories", "Active accounts"],
     ["概览", "用户", "在用账号"]),
    ("admin", "/admin/categories/", ["Problem categories", "City appearance", "Move up"],
     ["问题类别", "市容环境", "上移"]),
]


@pytest.mark.parametrize("who, url, english, chinese", PAGES, ids=[p[1] for p in PAGES])
def test_english_user_sees_english(client, auth, world, who, url, english, chinese):
    users, data = world
    _set_locale(users, "en")
    assert auth.login(users[who].username).status_code == 302
    response = client.get(url)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<html lang="en"' in html
    for word in english:
        if word in ("Litter", "Goods outside shop"):  # category names come from the data's English column
            word = data["litter" if word == "Litter" else "shop_outside"].name_en
        assert word in html, f"{word!r} missing from {url} in English"
    shown = data["places"] + [users[who].display_name] + (data["names_zh"] if url.startswith("/admin/categories") else [])
    leftovers = _chinese_left(html, shown)
    assert not leftovers, f"untranslated Chinese on {url} for an English user: {leftovers}"


@pytest.mark.parametrize("who, url, english, chinese", PAGES, ids=[p[1] for p in PAGES])
def test_chinese_user_sees_chinese(client, auth, world, who, url, english, chinese):
    users, data = world
    assert auth.login(users[who].username).status_code == 302
    html = client.get(url).get_data(as_text=True)
    assert '<html lang="zh-CN"' in html
    for word in chinese:
        assert word in html, f"{word!r} missing from {url} in Chinese"
    for word in english[:2]:
        assert word not in html
    if url == "/review/":
        assert data["litter"].name_zh in html and data["litter"].name_en not in html


def test_login_page_follows_the_lang_cookie(client, app):
    client.set_cookie("lang", "en", domain="localhost")
    html = client.get("/login").get_data(as_text=True)
    assert '<html lang="en"' in html and "Sign in" in html and "Username" in html
    assert not _chinese_left(html, [])
    client.delete_cookie("lang", domain="localhost")
    html = client.get("/login").get_data(as_text=True)
    assert '<html lang="zh-CN"' in html and "登录" in html and "Sign in" not in html


def test_leftover_check_can_fail():
    html = '<p>Review</p><script type="application/json" id="xc-i18n">{"a": "\\u5ba1\\u6838"}</script>'
    assert _chinese_left(html, []) == ["审核"]
    assert _chinese_left("<p>汇金社区 · Review</p>", ["汇金社区"]) == []


def test_daily_report_chat_text_stays_chinese_for_an_english_reader(client, auth, world):
    """The chat text goes to the Chinese work group; the page around it follows the reader."""
    users, data = world
    _set_locale(users, "en")
    auth.login(users["desk"].username)
    # The day the fixture's dispatched problem was found, not "today": from 00:00 to 03:00 in Shanghai
    # it was found yesterday (the one found two hours ago is still waiting for review, so not listed).
    day = data["report_day"]
    text = client.get(f"/reports/daily?format=text&date={day}").get_data(as_text=True)
    assert "卫生督导通报" in text and "汇金社区" in text
    assert "supervision report" not in text.lower() and "Sites checked" not in text
    page = client.get(f"/reports/daily?date={day}").get_data(as_text=True)
    assert "Chat message" in page and "Sanitation supervision report" in page
    assert "卫生督导通报" in page  # the chat box holds the same Chinese text


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
def test_site_history_names_categories_in_the_readers_language(client, auth, world, locale):
    users, data = world
    _set_locale(users, locale)
    auth.login(users["leader"].username)
    html = client.get(f"/reports/sites/{data['site_id']}").get_data(as_text=True)
    shown, hidden = data["shop_outside"].name_en, data["shop_outside"].name_zh
    if locale != "en":
        shown, hidden = hidden, shown
    assert shown in html and hidden not in html
