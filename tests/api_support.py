"""Helpers for the API tests: images made in memory, the Content-Digest header, and a client that logs in,
sends the CSRF header and checks every /api/v1 response against the OpenAPI document."""
from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import uuid as uuidlib

from jsonschema import Draft202012Validator
from PIL import Image
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from webapp.api.openapi import build_spec
from webapp.extensions import db

SPEC_URI = "urn:xuncha:openapi"
RULE_ARG = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


def new_uuid() -> str:
    return str(uuidlib.uuid4())


def digest(data: bytes, alg: str = "sha-256") -> str:
    fn = {"sha-256": hashlib.sha256, "sha-512": hashlib.sha512}[alg]
    return f"{alg}=:{base64.b64encode(fn(data).digest()).decode()}:"


def two_tone(size=(640, 480), top=(220, 30, 30), bottom=(30, 30, 220)) -> Image.Image:
    """Red top half, blue bottom half: which way up a served image is can be read off its pixels."""
    img = Image.new("RGB", size, bottom)
    img.paste(Image.new("RGB", (size[0], size[1] // 2), top), (0, 0))
    return img


def noisy(size=(640, 480)) -> Image.Image:
    return Image.merge("RGB", [Image.effect_noise(size, 60 + 10 * i) for i in range(3)])


def encode(img: Image.Image, fmt: str = "JPEG", *, orientation: int | None = None, gps: bool = False,
           taken: str | None = None, **save) -> bytes:
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    if gps:
        exif[0x8825] = {1: "N", 2: (31.0, 52.0, 10.5), 3: "E", 4: (117.0, 17.0, 3.2)}
    if taken:
        exif[0x8769] = {0x9003: taken}
    buf = io.BytesIO()
    if len(exif):
        save["exif"] = exif
    img.save(buf, format=fmt, **save)
    return buf.getvalue()


def jpeg(size=(640, 480), **kw) -> bytes:
    return encode(noisy(size), "JPEG", quality=85, **kw)


# --- OpenAPI-checked client --------------------------------------------------------------------------

class OpenApiChecker:
    def __init__(self, app) -> None:
        self.app = app
        self.spec = build_spec()
        registry = Registry().with_resource(SPEC_URI, Resource.from_contents(self.spec,
                                                                             default_specification=DRAFT202012))
        self.registry = registry
        self.checked: list[tuple[str, str, int]] = []

    def template(self, path: str, method: str) -> str | None:
        adapter = self.app.url_map.bind("localhost")
        try:
            rule, _args = adapter.match(path.split("?", 1)[0], method=method, return_rule=True)
        except Exception:  # noqa: BLE001 - 404/405: nothing documented to compare with
            return None
        return RULE_ARG.sub(r"{\1}", rule.rule)

    def check(self, method: str, path: str, response) -> None:
        if not path.startswith("/api/v1/"):
            return
        template = self.template(path, method)
        if template is None:
            return
        operation = self.spec["paths"].get(template, {}).get(method.lower())
        assert operation is not None, f"{method} {template} is not in the OpenAPI document"
        documented = operation["responses"].get(str(response.status_code))
        assert documented is not None, f"{method} {template} answered {response.status_code}, not documented"
        content = documented.get("content", {})
        if response.mimetype == "application/json":
            assert "application/json" in content, f"{method} {template} {response.status_code}: JSON not documented"
            schema = json.loads(json.dumps(content["application/json"]["schema"]).replace(
                '"#/components/', f'"{SPEC_URI}#/components/'))
            Draft202012Validator(schema, registry=self.registry).validate(response.get_json())
        elif response.status_code != 304:
            assert response.mimetype in content, f"{method} {template}: {response.mimetype} not documented"
        self.checked.append((method, template, response.status_code))


class Api:
    """A test client for /api/v1: session login with the CSRF header, or a bearer token."""

    def __init__(self, app, client, checker: OpenApiChecker) -> None:
        self.app = app
        self.client = client
        self.checker = checker
        self.csrf: str | None = None
        self.token: str | None = None

    def login(self, username: str, password: str = "correct-horse-42") -> dict:
        page = self.client.get("/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
        response = self.client.post("/login", data={"username": username, "password": password,
                                                    "csrf_token": token, "next": ""})
        assert response.status_code == 302, response.status_code
        session = self.get("/api/v1/session")
        assert session.status_code == 200
        self.csrf = session.get_json()["csrf_token"]
        return session.get_json()

    def request(self, method: str, path: str, *, headers: dict | None = None, **kw):
        headers = dict(headers or {})
        if self.token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        elif method not in ("GET", "HEAD") and self.csrf:
            headers.setdefault("X-CSRFToken", self.csrf)
        response = self.client.open(path, method=method, headers=headers, **kw)
        self.checker.check(method, path, response)
        return response

    def get(self, path: str, **kw):
        return self.request("GET", path, **kw)

    def put_json(self, path: str, body, **kw):
        return self.request("PUT", path, json=body, **kw)

    def put_photo(self, photo_uuid: str, data: bytes, content_type: str = "image/jpeg", *,
                  digest_header: str | None = "auto", headers: dict | None = None, **kw):
        headers = dict(headers or {})
        if digest_header == "auto":
            headers["Content-Digest"] = digest(data)
        elif digest_header is not None:
            headers["Content-Digest"] = digest_header
        return self.request("PUT", f"/api/v1/photos/{photo_uuid}", data=data, content_type=content_type,
                            headers=headers, **kw)


# --- fast users ----------------------------------------------------------------------------------------

_password_hash: list[str] = []


def fast_user(username: str, roles=("inspector",), *, communities=(), sites=(), streets=()):
    """Like factories.make_user, but the password hash is computed once per session (scrypt is slow)."""
    from tests.factories import PASSWORD
    from werkzeug.security import generate_password_hash

    from webapp.models import User

    if not _password_hash:
        _password_hash.append(generate_password_hash(PASSWORD))
    user = User(username=username, display_name=username, password_hash=_password_hash[0])
    user.set_roles(roles)
    user.communities, user.sites, user.streets = list(communities), list(sites), list(streets)
    db.session.add(user)
    db.session.flush()
    return user


def token_client(app, checker, username: str) -> "Api":
    """A client authenticated by a bearer token: no login round trip (and no scrypt) per test."""
    from webapp.auth.tokens import issue_token
    from webapp.models import User
    from sqlalchemy import select

    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        token = issue_token(user, "test")
        db.session.commit()
    api = Api(app, app.test_client(), checker)
    api.token = token
    return api
