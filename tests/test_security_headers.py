"""Security headers on every kind of response, and the template rules the CSP depends on."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from webapp import create_app
from webapp.security import CSP_DIRECTIVES

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"


def parse_csp(value: str) -> dict[str, list[str]]:
    out = {}
    for part in value.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


def assert_hardened(response) -> None:
    headers = response.headers
    csp = parse_csp(headers["Content-Security-Policy"])
    assert csp["default-src"] == ["'self'"]
    assert csp["script-src"] == ["'self'"]
    assert csp["style-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["base-uri"] == ["'self'"]
    assert csp["form-action"] == ["'self'"]
    # What the PWA needs: the service worker, blob: previews of a photo before upload, the manifest.
    assert csp["worker-src"] == ["'self'"]
    assert set(csp["img-src"]) == {"'self'", "blob:", "data:"}
    assert csp["connect-src"] == ["'self'"]
    assert csp["manifest-src"] == ["'self'"]
    raw = headers["Content-Security-Policy"]
    assert "unsafe-inline" not in raw and "unsafe-eval" not in raw and "*" not in raw
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] in ("same-origin", "strict-origin-when-cross-origin")
    assert headers["X-Frame-Options"] == "DENY"
    policy = {item.split("=")[0].strip(): item.split("=")[1].strip()
              for item in headers["Permissions-Policy"].split(",")}
    assert policy["camera"] == "(self)"
    assert policy["geolocation"] == "(self)"
    assert policy["microphone"] == "()"
    assert policy["payment"] == "()"


@pytest.mark.parametrize("path, status", [
    ("/login", 200),                        # an HTML page
    ("/capture/", 302),                      # a redirect to login
    ("/no-such-page", 404),                  # a routing 404 page
    ("/api/v1/no-such-thing", 404),          # the API's JSON error shape
    ("/static/pwa/css/app.css", 200),        # a static file
])
def test_headers_on_every_kind_of_response(client, path, status):
    response = client.get(path)
    assert response.status_code == status
    assert_hardened(response)


def test_headers_on_a_rejected_post(client):
    response = client.post("/login", data={"username": "x"})  # no CSRF token
    assert response.status_code == 400
    assert_hardened(response)


def test_hsts_only_over_https(client):
    assert "Strict-Transport-Security" not in client.get("/login").headers
    secure = client.get("/login", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")
    assert int(secure.headers["Strict-Transport-Security"].split("=")[1]) >= 15552000


@pytest.fixture
def bare_app(tmp_path):
    """A separate app, so routes can be added to it (the session app has already served requests)."""
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite3'}",
                      "UPLOAD_DIR": str(tmp_path / "uploads")})
    app.config["PROPAGATE_EXCEPTIONS"] = False
    return app


def test_headers_on_an_unhandled_error_and_a_view_may_tighten_them(bare_app):
    @bare_app.route("/boom")
    def boom():
        raise RuntimeError("boom")

    @bare_app.route("/sandboxed")
    def sandboxed():
        return "x", 200, {"Content-Security-Policy": "default-src 'none'; sandbox"}

    client = bare_app.test_client()
    response = client.get("/boom")
    assert response.status_code == 500
    assert_hardened(response)
    response = client.get("/sandboxed")
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_policy_string_is_well_formed():
    names = [name for name, _ in CSP_DIRECTIVES]
    assert len(names) == len(set(names))
    for _, value in CSP_DIRECTIVES:
        for source in value.split():
            assert source in {"'self'", "'none'", "blob:", "data:"}, source


# --- Templates: the CSP blocks inline code, so none may be written ---------------------------------

TAG_RE = re.compile(r"<([a-zA-Z][a-zA-Z0-9-]*)((?:[^>{]|\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}|\{)*)>", re.S)
SCRIPT_RE = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.S | re.I)
EVENT_ATTR_RE = re.compile(r"(?:^|[\s\"'])on[a-z]+\s*=", re.I)
STYLE_ATTR_RE = re.compile(r"(?:^|[\s\"'])style\s*=", re.I)
JS_URL_RE = re.compile(r"""(?:href|src|action|formaction)\s*=\s*["']?\s*javascript:""", re.I)


def csp_violations(html: str) -> list[str]:
    """Everything in a template that the CSP would block (or that would need 'unsafe-inline')."""
    problems = []
    for attrs, body in SCRIPT_RE.findall(html):
        is_data = re.search(r"""type\s*=\s*["']application/(?:ld\+)?json["']""", attrs, re.I)
        if body.strip() and not is_data:
            problems.append(f"inline <script> code: {body.strip()[:60]!r}")
    for tag, attrs in TAG_RE.findall(html):
        if EVENT_ATTR_RE.search(attrs):
            problems.append(f"on* handler attribute in <{tag}>")
        if STYLE_ATTR_RE.search(attrs):
            problems.append(f"style= attribute in <{tag}>")
    if re.search(r"<style\b", html, re.I):
        problems.append("inline <style> element")
    if JS_URL_RE.search(html):
        problems.append("javascript: URL")
    return problems


@pytest.mark.parametrize("snippet", [
    "<script>alert(1)</script>",
    "<script type=\"module\">import './x.js'</script>",
    "<button onclick=\"go()\">x</button>",
    "<img src=x onerror='go()'>",
    "<div class=\"a\" style=\"color:red\">x</div>",
    "<p data-x=\"{{ a }}\" style='x'>",
    "<style>p{color:red}</style>",
    "<a href=\"javascript:go()\">x</a>",
])
def test_scanner_catches_inline_code(snippet):
    assert csp_violations(snippet)


@pytest.mark.parametrize("snippet", [
    '<script type="module" src="{{ url_for(\'static\', filename=\'pwa/js/app.js\') }}"></script>',
    '<script type="application/json" id="i18n">{{ strings|tojson }}</script>',
    '<input type="file" accept="image/*" capture="environment" data-online="1">',
    '<a class="{{ \'active\' if x > 1 }}" href="/capture/">x</a>',
    '<p class="stylish">onion rings</p>',
])
def test_scanner_allows_what_the_csp_allows(snippet):
    assert csp_violations(snippet) == []


def test_templates_have_no_inline_code():
    templates = sorted(TEMPLATES.rglob("*.html"))
    assert templates, "no templates found"
    found = {str(path.relative_to(ROOT)): problems
             for path in templates if (problems := csp_violations(path.read_text(encoding="utf-8")))}
    assert found == {}, f"templates the CSP would break: {found}"
