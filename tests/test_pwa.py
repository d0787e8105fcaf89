"""The installable shell: the service worker's version follows the shell files, /sw.js and the
versioned assets are served as the worker expects, the manifest is installable, the capture
page carries everything its JS needs (strings, config) with no inline code, and the worker's cache
rules (tried in Node against a scripted server) keep only the offline pages and never /api/."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from tests.factories import make_community, make_site, make_user
from webapp.config import PROJECT_ROOT
from webapp.extensions import db
from webapp.pwa.shell import build_shell, shell_version


@pytest.fixture
def shell_tree(tmp_path):
    """A copy of the files the shell is built from, to change without touching the repository."""
    for source in ("static/pwa", "templates/base.html", "templates/capture", "templates/pwa", "webapp/capture",
                   "webapp/pwa", "webapp/translations"):
        src = PROJECT_ROOT / source
        if not src.exists():
            continue
        dst = tmp_path / source
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dst)
    (tmp_path / "webapp" / "review").mkdir(parents=True)
    (tmp_path / "webapp" / "review" / "views.py").write_text("x = 1\n")
    return tmp_path


@pytest.mark.parametrize("path", [
    "static/pwa/js/outbox.js", "static/pwa/css/app.css", "static/pwa/sw.js", "static/pwa/sw-strategies.js",
    "templates/capture/index.html", "templates/base.html", "webapp/capture/strings.py",
])
def test_version_changes_when_a_shell_file_changes(shell_tree, path):
    before = shell_version(shell_tree)
    target = shell_tree / path
    target.write_bytes(target.read_bytes() + b"\n")
    assert shell_version(shell_tree) != before


def test_version_changes_when_a_shell_file_is_added_or_renamed(shell_tree):
    before = shell_version(shell_tree)
    js = shell_tree / "static/pwa/js"
    (js / "i18n.js").rename(js / "i18n2.js")
    renamed = shell_version(shell_tree)
    assert renamed != before
    (js / "extra.js").write_text("export {};\n")
    assert shell_version(shell_tree) not in (before, renamed)


def test_version_ignores_files_outside_the_shell(shell_tree):
    before = shell_version(shell_tree)
    (shell_tree / "webapp/review/views.py").write_text("x = 2\n")
    (shell_tree / "README.md").write_text("docs\n")
    assert shell_version(shell_tree) == before


def test_translation_sources_count_but_compiled_catalogues_do_not(shell_tree):
    catalogue = shell_tree / "webapp/translations/en/LC_MESSAGES"
    catalogue.mkdir(parents=True, exist_ok=True)
    (catalogue / "messages.po").write_text('msgid "已保存"\nmsgstr "Saved"\n')
    before = shell_version(shell_tree)
    (catalogue / "messages.mo").write_bytes(b"\x00compiled")
    assert shell_version(shell_tree) == before
    (catalogue / "messages.po").write_text('msgid "已保存"\nmsgstr "Saved!"\n')
    assert shell_version(shell_tree) != before


def test_running_app_serves_the_hash_of_the_real_tree(app, client):
    version = shell_version(PROJECT_ROOT)
    assert app.extensions["xc_shell"].version == version
    response = client.get("/sw.js")
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.headers["Cache-Control"] == "no-cache"
    body = response.get_data(as_text=True)
    config = json.loads(re.search(r"self\.XC_SHELL = (\{.*\});", body).group(1))
    assert config["version"] == version and config["cache"] == f"xc-shell-{version}"
    # The worker's own wiring follows the injected header, unchanged.
    assert body.endswith((PROJECT_ROOT / "static/pwa/sw.js").read_text())


def test_precache_is_what_the_capture_page_loads_and_never_the_api(app, client):
    body = client.get("/sw.js").get_data(as_text=True)
    config = json.loads(re.search(r"self\.XC_SHELL = (\{.*\});", body).group(1))
    precache = config["precache"]
    version = config["version"]
    prefix = f"/shell/{version}/"
    assert config["assetPrefix"] == prefix
    assert "/capture/" in precache and "/offline" in precache and "/manifest.webmanifest" in precache
    modules = {f"{prefix}js/{path.name}" for path in _capture_modules()}
    assert len(modules) > 10, "no shell modules found"
    assert {url for url in precache if url.startswith(prefix)} == modules | {f"{prefix}css/app.css"}
    # Desk and party modules are kept when a page that loads them is, never for every install; the
    # worker's own helper is kept by the browser with the worker.
    for name in ("js/tasks.js", "js/countdown.js", "js/review.js", "js/admin.js", "sw-strategies.js"):
        assert prefix + name not in precache, name
    assert config["helper"] == f"{prefix}sw-strategies.js"
    assert not [url for url in precache if url.startswith("/api/")]
    assert len(precache) == len(set(precache))
    for url in precache:
        if url.startswith("/shell/"):
            assert client.get(url).status_code == 200, url


def test_each_offline_page_is_kept_with_every_shell_file_it_loads(app, client, auth, ctx):
    """pageAssets must follow the templates: a file a page loads but the list lacks would be missing
    offline when the page was kept before the worker controlled it."""
    market = make_site(make_community(), "湖西早市", kind="market")
    make_user("insp", roles=("inspector",))
    make_user("mgr", roles=("manager",), sites=[market])
    db.session.commit()
    config = _worker_config(client)
    assert set(config["pageAssets"]) == set(config["pages"])
    prefix = config["assetPrefix"]
    for user, page in (("insp", "/capture/"), ("insp", "/tasks/verify"), ("mgr", "/tasks/")):
        auth.login(user)
        html = client.get(page).get_data(as_text=True)
        client.post("/logout", data={"csrf_token": _csrf(client)})
        entries = set(re.findall(rf'(?:src|href)="({re.escape(prefix)}[^"]+)"', html))
        assert f"{prefix}js/shell.js" in entries and f"{prefix}css/app.css" in entries, page
        assert entries <= set(config["pageAssets"][page]), (page, entries - set(config["pageAssets"][page]))
    assert f"{prefix}js/tasks.js" in config["pageAssets"]["/tasks/"]
    assert f"{prefix}js/countdown.js" in config["pageAssets"]["/tasks/verify"]  # imported by tasks.js


def test_offline_pages_and_the_manifest_answer_304_when_unchanged(client, auth, ctx):
    """The worker's install asks again for the page a window has just loaded, and for the manifest:
    a 304 instead of the same bytes twice. The ETag is the content's, so another user's copy never
    validates."""
    make_user("insp", roles=("inspector",))
    make_user("insp2", roles=("inspector",))
    db.session.commit()
    manifest = client.get("/manifest.webmanifest")
    assert manifest.headers["Cache-Control"] == "private, no-cache" and manifest.headers["ETag"]
    assert client.get("/manifest.webmanifest", headers={"If-None-Match": manifest.headers["ETag"]}).status_code == 304
    auth.login("insp")
    page = client.get("/capture/")
    etag = page.headers["ETag"]
    assert page.status_code == 200 and page.headers["Cache-Control"] == "private, no-cache"
    again = client.get("/capture/", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.get_data() == b""
    assert again.headers["X-Shell-Version"] == page.headers["X-Shell-Version"]
    client.post("/logout", data={"csrf_token": _csrf(client)})
    auth.login("insp2")
    assert client.get("/capture/", headers={"If-None-Match": etag}).status_code == 200
    # Other pages are not made conditional.
    assert "ETag" not in client.get("/account").headers


def test_shell_assets_are_immutable_only_for_the_current_version(app, client):
    version = app.extensions["xc_shell"].version
    current = client.get(f"/shell/{version}/js/outbox.js")
    assert current.status_code == 200
    assert "immutable" in current.headers["Cache-Control"]
    assert current.mimetype in ("text/javascript", "application/javascript")
    old = client.get("/shell/0000000000000000/js/outbox.js")
    assert old.status_code == 200 and old.headers["Cache-Control"] == "no-cache"
    assert client.get(f"/shell/{version}/../../webapp/config.py").status_code == 404
    assert client.get(f"/shell/{version}/js/missing.js").status_code == 404


def test_build_shell_follows_the_module_imports(shell_tree):
    js = shell_tree / "static/pwa/js"
    (js / "entry.js").write_text('import { a } from "./a.js";\nimport {\n  b,\n  c,\n} from "./b.js";\n'
                                 'import "./side.js";\nexport { d } from "./d.js";\n'
                                 'const later = () => import("./lazy.js");\n// from "./a.js" again\n'
                                 'import { gone } from "./missing.js";\n')
    for name in ("a", "b", "side", "d", "lazy"):
        (js / f"{name}.js").write_text("export {};\n")
    (js / "a.js").write_text('import { x } from "../sw-strategies.js";\n')
    shell = build_shell(shell_tree)
    assert shell.imports["js/entry.js"] == ("js/a.js", "js/b.js", "js/d.js", "js/lazy.js", "js/side.js")
    assert set(shell.closure(("css/app.css", "js/entry.js"))) == {
        "css/app.css", "js/entry.js", "js/a.js", "js/b.js", "js/d.js", "js/lazy.js", "js/side.js", "sw-strategies.js"}
    real = build_shell(PROJECT_ROOT)
    assert {f"js/{p.name}" for p in _capture_modules()} == set(real.closure(("js/app.js", "js/shell.js")))


def test_manifest_is_installable(client):
    response = client.get("/manifest.webmanifest")
    assert response.status_code == 200
    assert response.mimetype == "application/manifest+json"
    manifest = response.get_json(force=True)
    assert manifest["name"] == "巡查" and manifest["short_name"] == "巡查" and manifest["lang"] == "zh-CN"
    assert manifest["display"] == "standalone"
    assert manifest["theme_color"] == "#0b6e4f"
    # The root sends each role home (capture, tasks …); the id keeps installed apps the same app.
    assert manifest["start_url"] == "/" and manifest["scope"] == "/" and manifest["id"] == "/capture/"
    sizes = {}
    for icon in manifest["icons"]:
        path = PROJECT_ROOT / icon["src"].lstrip("/")
        with Image.open(path) as img:
            assert f"{img.width}x{img.height}" == icon["sizes"]
        sizes.setdefault(icon["purpose"], set()).add(icon["sizes"])
    assert {"192x192", "512x512"} <= sizes["any"]
    assert "512x512" in sizes["maskable"]
    with Image.open(PROJECT_ROOT / "static/pwa/icons/maskable-512.png") as img:
        assert img.mode == "RGB"  # maskable icons must be opaque to the edges


def test_manifest_speaks_the_users_language(client):
    client.set_cookie("lang", "en")
    manifest = client.get("/manifest.webmanifest").get_json(force=True)
    assert manifest["name"] == manifest["short_name"] == "Xuncha" and manifest["lang"] == "en"
    assert manifest["description"].startswith("Sanitary-city patrols")
    client.set_cookie("lang", "zh_CN")
    assert client.get("/manifest.webmanifest").get_json(force=True)["lang"] == "zh-CN"


def test_offline_page_needs_no_login(client):
    response = client.get("/offline")
    assert response.status_code == 200
    assert "/capture/" in response.get_data(as_text=True)


def test_offline_page_leads_each_role_back_to_its_offline_pages(client, auth, ctx):
    market = make_site(make_community(), "湖西早市", kind="market")
    make_user("mgr", roles=("manager",), sites=[market])
    make_user("insp", roles=("inspector",))
    db.session.commit()
    auth.login("mgr")
    html = client.get("/offline").get_data(as_text=True)
    assert 'href="/tasks/"' in html and 'href="/capture/"' not in html
    client.post("/logout", data={"csrf_token": _csrf(client)})
    auth.login("insp")
    html = client.get("/offline").get_data(as_text=True)
    assert 'href="/capture/"' in html and 'href="/tasks/verify"' in html and 'href="/tasks/"' not in html


def _capture_page(client, auth, ctx):
    make_user("insp", roles=("inspector",))
    db.session.commit()
    auth.login("insp")
    response = client.get("/capture/")
    assert response.status_code == 200
    return response


def _json_block(html: str, block_id: str) -> dict:
    match = re.search(rf'<script type="application/json" id="{block_id}">(.*?)</script>', html, re.S)
    assert match, block_id
    return json.loads(match.group(1))


def test_capture_page_is_an_installable_shell(app, client, auth, ctx):
    response = _capture_page(client, auth, ctx)
    html = response.get_data(as_text=True)
    version = app.extensions["xc_shell"].version
    assert response.headers["X-Shell-Version"] == version
    # Fetched with the session cookie, so an English user's install is named in English.
    assert '<link rel="manifest" href="/manifest.webmanifest" crossorigin="use-credentials">' in html
    assert 'rel="apple-touch-icon"' in html and 'name="apple-mobile-web-app-capable"' in html
    assert f'<script type="module" src="/shell/{version}/js/shell.js"></script>' in html
    assert f'<script type="module" src="/shell/{version}/js/app.js"></script>' in html
    assert f'href="/shell/{version}/css/app.css"' in html
    assert 'capture="environment"' in html and 'accept="image/*"' in html
    config = _json_block(html, "xc-config")
    assert config["loginUrl"] == "/login?next=/capture/"
    # Every script tag is either external or a JSON data block (the CSP forbids inline code).
    for tag in re.findall(r"<script[^>]*>", html):
        assert 'src="' in tag or 'type="application/json"' in tag, tag


def _capture_modules() -> set[Path]:
    """The modules the capture page loads: app.js, shell.js and what they import, transitively."""
    js_dir = PROJECT_ROOT / "static/pwa/js"
    seen: set[Path] = set()
    todo = [js_dir / "app.js", js_dir / "shell.js"]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        todo += [js_dir / name for name in re.findall(r'from "\./([\w-]+\.js)"', module.read_text())]
    return seen


def test_every_string_the_js_asks_for_is_on_the_page(client, auth, ctx):
    strings = _json_block(_capture_page(client, auth, ctx).get_data(as_text=True), "xc-i18n")
    used: set[str] = set()
    for js in _capture_modules():
        used |= set(re.findall(r'\bt\("([a-z_]+)"', js.read_text()))
    assert used, "no t() calls found"
    assert not used - set(strings), f"missing strings: {sorted(used - set(strings))}"
    # Status labels are looked up as status_<server status>; every workflow status has one.
    from webapp.models import Status
    assert {f"status_{s.value}" for s in Status} <= set(strings)
    outbox_js = (PROJECT_ROOT / "static/pwa/js/outbox.js").read_text()
    outbox_states = re.findall(r'(\w+): "\1"', re.search(r"STATES = Object\.freeze\(\{(.*?)\}\)", outbox_js, re.S).group(1))
    assert len(outbox_states) == 5
    assert {f"state_{s}" for s in outbox_states} <= set(strings)
    view_js = (PROJECT_ROOT / "static/pwa/js/outbox-view.js").read_text()
    local_errors = re.findall(r'"(\w+)"', re.search(r"LOCAL_ERRORS = new Set\(\[(.*?)\]\)", view_js).group(1))
    assert "network" in local_errors
    assert {f"error_{code}" for code in local_errors} <= set(strings)


def test_capture_page_is_for_inspectors(client, auth, ctx):
    make_user("desk1", roles=("desk",))
    db.session.commit()
    assert client.get("/capture/").status_code == 302
    auth.login("desk1")
    assert client.get("/capture/").status_code == 403
    # Only inspectors get the service worker and outbox badge.
    assert "js/shell.js" not in client.get("/account").get_data(as_text=True)


# --- what the worker keeps ---------------------------------------------------------------------------

def _csrf(client) -> str:
    return client.get("/api/v1/session").get_json()["csrf_token"]


def _worker_config(client) -> dict:
    body = client.get("/sw.js").get_data(as_text=True)
    return json.loads(re.search(r"self\.XC_SHELL = (\{.*\});", body).group(1))


def test_worker_keeps_the_offline_pages_and_nothing_else(client):
    config = _worker_config(client)
    # An allow-list, not a pattern: only the pages that hold offline work.
    assert config["pages"] == ["/capture/", "/tasks/", "/tasks/verify"]
    assert config["shellPages"] == ["/capture/"]  # precached at install, as the inspector's app always was
    assert config["logoutUrl"] == "/logout"
    assert not [url for url in config["pages"] + config["precache"] if url.startswith("/api/")]
    # Kept pages are the user's own: they are never on the shared precache list (except /capture/).
    assert "/tasks/" not in config["precache"] and "/tasks/verify" not in config["precache"]


NODE = shutil.which("node")


@pytest.fixture(scope="module")
def worker_run(app):
    """sw-strategies.js driven in Node (tests/sw_harness.mjs) with the config the server really sends."""
    if NODE is None:
        pytest.skip("Node.js is not installed: the worker's cache rules cannot run outside a browser")
    with app.test_client() as client:
        config = _worker_config(client)
    result = subprocess.run(
        [NODE, str(PROJECT_ROOT / "tests/sw_harness.mjs"), str(PROJECT_ROOT / "static/pwa/sw-strategies.js"),
         json.dumps(config)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return config, json.loads(result.stdout)


def test_worker_leaves_the_api_and_other_requests_to_the_network(worker_run):
    _config, run = worker_run
    route = run["route"]
    assert route["api_navigation"] is None and route["api_fetch"] is None and route["api_photo"] is None
    assert route["post_navigation"] is None and route["other_origin"] is None and route["static_icon"] is None
    assert route["asset_handled"] is True
    assert run["online"]["api"] == {"handled": False}
    assert not [key for key in run["allKeys"] if key.startswith("/api/")]


def test_install_keeps_the_open_offline_page_and_drops_old_versions(worker_run):
    config, run = worker_run
    install = run["install"]
    # A manager on /tasks/ when the worker installs: that page is kept; /capture/ answered 403, so not;
    # /review/queue was open too but is not an offline page, so it was not even fetched.
    assert install["pages"] == ["/tasks/"]
    assert "/capture/" in install["fetched"] and "/review/queue" not in install["fetched"]
    assert sorted(install["caches"]) == sorted(["someone-elses-cache", config["cache"]])
    # The kept page's files came with it (tasks.js is not precached), and nothing any offline page lacks.
    assert install["missingTaskAssets"] == []
    prefix = config["assetPrefix"]
    assert f"{prefix}js/tasks.js" in install["assets"] and f"{prefix}js/tasks.js" not in config["precache"]
    wanted = {url for urls in config["pageAssets"].values() for url in urls}
    assert set(install["assets"]) <= wanted and f"{prefix}js/review.js" not in install["assets"]


def test_versioned_files_are_kept_on_first_use(worker_run):
    config, run = worker_run
    runtime = run["runtime"]
    review = f"{config['assetPrefix']}js/review.js"
    assert runtime["first"] == runtime["again"] == f"/* asset {review} */"
    assert runtime["fetched"] == [review, f"{config['assetPrefix']}js/missing.js"]  # the second came from the cache
    assert runtime["missing"] == 404 and runtime["other_version"] is None
    assert runtime["held"] == [review]  # not the 404, not another version's file


def test_online_visits_refresh_only_the_allow_listed_pages(worker_run):
    _config, run = worker_run
    online = run["online"]
    assert online["pages"] == ["/tasks/", "/tasks/verify"]  # not /review/queue, /account or /api/
    # The page itself gets the live response; the stored copy is marked as a kept copy.
    assert all(online[name]["handled"] and not online[name]["kept"] for name in ("tasks", "verify", "queue", "account"))
    assert 'data-xc-copy="kept"' in online["keptTasks"] and 'data-xc-copy="live"' not in online["keptTasks"]


@pytest.mark.parametrize("case", ["redirect", "error", "other_version", "opaque"])
def test_no_copy_is_kept_of_a_login_redirect_an_error_or_another_version(worker_run, case):
    _config, run = worker_run
    assert run["refused"][case] == {"passedThrough": True, "pages": []}


def test_offline_each_page_gets_its_last_copy_and_others_the_offline_page(worker_run):
    _config, run = worker_run
    offline = run["offline"]
    for name in ("tasks", "tasks_query", "root"):
        assert offline[name]["kept"] and "page /tasks/" in offline[name]["body"], name
    for name in ("verify_never_opened", "queue"):
        assert not offline[name]["kept"] and "page /offline" in offline[name]["body"], name


def test_pages_ask_to_be_kept_and_logout_forgets_them(worker_run):
    _config, run = worker_run
    keep = run["keep"]
    assert keep == {"not_listed": False, "listed_missing": True, "listed_present": True, "fetched": ["/tasks/verify"]}
    logout = run["logout"]
    assert logout["is_logout"] is True and logout["get_is_not"] is False
    assert logout["pages"] == [] and logout["assetsLeft"] > 0  # the user's pages go, the shell stays


# --- the task pages as offline pages -------------------------------------------------------------------

def test_task_pages_register_the_worker_and_show_the_outbox_badge(app, client, auth, ctx):
    version = app.extensions["xc_shell"].version
    market = make_site(make_community(), "湖西早市", kind="market")
    make_user("mgr", roles=("manager",), sites=[market])
    make_user("desk1", roles=("desk",))
    db.session.commit()
    auth.login("mgr")
    response = client.get("/tasks/")
    html = response.get_data(as_text=True)
    assert response.headers["X-Shell-Version"] == version  # what lets the worker keep it
    assert f'<script type="module" src="/shell/{version}/js/shell.js"></script>' in html
    assert 'data-xc-copy="live"' in html
    assert re.search(r'<a href="/tasks/"[^>]*>[^<]*(<span class="badge">\d+</span>)?'
                     r'<span class="badge badge-outbox" data-outbox-badge hidden', html)
    # The kept copy's age: hidden on a live page, filled in by tasks.js on a kept one.
    copy = re.search(r'<div class="tk-copy" id="tk-copy"[^>]*>.*?</div>', html, re.S).group(0)
    assert re.search(r'role="status" hidden>', copy)
    assert re.search(r'data-time="\d\d:\d\d"', copy) and re.search(r'data-time-long="\d\d-\d\d \d\d:\d\d"', copy)
    assert 'data-offline="离线 · 数据截至 {time}"' in copy and 'data-online="已恢复网络 · 数据截至 {time}"' in copy
    assert 'href="/tasks/"' in copy  # the refresh link, shown once the server answers again
    for tag in re.findall(r"<script[^>]*>", html):
        assert 'src="' in tag or 'type="application/json"' in tag, tag
    # Every page of a role with offline work registers the worker; a desk user only on a task page.
    assert "js/shell.js" in client.get("/account").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": _csrf(client)})
    auth.login("desk1")
    assert "js/shell.js" not in client.get("/account").get_data(as_text=True)
    assert "js/shell.js" in client.get("/tasks/verify").get_data(as_text=True)


def test_shell_files_do_not_vary_on_the_cookie_of_a_logged_in_user(app, client, auth, ctx):
    # One cached copy serves every user: Vary: Cookie would make the browser and any proxy keep
    # one per session (and revalidate after login), for files that are the same for everyone.
    user = make_user("insp-vary", roles=("inspector",))
    user.must_change_password = True
    db.session.commit()
    auth.login("insp-vary")
    version = app.extensions["xc_shell"].version
    asset = client.get(f"/shell/{version}/js/outbox.js")
    assert asset.status_code == 200 and "immutable" in asset.headers["Cache-Control"]
    assert "Cookie" not in asset.headers.get("Vary", "")
    # The same user is still sent to set a password on any real page.
    assert client.get("/review/").status_code == 302
