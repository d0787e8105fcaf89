"""The OpenAPI document is kept true: it documents exactly the /api/v1 routes that exist, and is a
valid OpenAPI 3.1 document whose schemas the API tests' real responses validate against (see
tests/api_support.py: every response through the ``api`` helper is checked)."""
from __future__ import annotations

from jsonschema import Draft202012Validator

from tests.api_support import RULE_ARG, fast_user, new_uuid
from webapp.auth.tokens import issue_token
from webapp.extensions import db

IGNORED_METHODS = {"HEAD", "OPTIONS"}


def routes(app) -> set[tuple[str, str]]:
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        for method in rule.methods - IGNORED_METHODS:
            found.add((RULE_ARG.sub(r"{\1}", rule.rule), method.lower()))
    return found


def test_every_route_is_documented_and_vice_versa(app, client):
    spec = client.get("/api/v1/openapi.json").get_json()
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops
                  if method in {"get", "put", "post", "patch", "delete"}}
    assert routes(app) - documented == set(), "routes missing from the OpenAPI document"
    assert documented - routes(app) == set(), "documented paths that do not exist"


def test_document_is_openapi_31_with_valid_schemas(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    for name, schema in spec["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert op.get("responses"), f"{method} {path} documents no responses"
            params = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert params == set(RULE_ARG.findall(path.replace("{", "<").replace("}", ">"))), path


def test_every_body_over_the_request_limit_is_a_documented_413(app, api, ctx):
    """Werkzeug refuses any body over MAX_CONTENT_LENGTH (views may refuse smaller ones sooner): every
    operation that takes a body answers 413 in the error shape, and documents it (``api`` checks)."""
    api.token = issue_token(fast_user("insp"), "test")
    db.session.commit()
    spec = api.checker.spec
    too_big = b"{" + b" " * app.config["MAX_CONTENT_LENGTH"] + b"}"
    operations = [(path, method, op) for path, ops in spec["paths"].items() for method, op in ops.items()
                  if "requestBody" in op]
    assert {(path, method) for path, method, _op in operations} >= {
        ("/api/v1/photos/{photo_uuid}", "put"), ("/api/v1/findings/{finding_uuid}", "put"),
        ("/api/v1/findings/{finding_uuid}/actions/{action_uuid}", "put")}
    for path, method, op in operations:
        url = RULE_ARG.sub(lambda _m: new_uuid(), path.replace("{", "<").replace("}", ">"))
        content_type = next(iter(op["requestBody"]["content"]))
        response = api.request(method.upper(), url, data=too_big, content_type=content_type)
        assert response.status_code == 413, (method, path, response.status_code)
        assert response.get_json()["error"]["code"]


def test_documented_refs_resolve(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    text = str(spec)
    for name in spec["components"]["schemas"]:
        assert name
    import re

    for target in set(re.findall(r"#/components/schemas/(\w+)", text)):
        assert target in spec["components"]["schemas"], target


def test_api_tests_checked_real_responses(app, api, openapi_checker):
    """The checker is live: a response the document does not describe fails loudly."""
    import pytest

    response = api.get("/api/v1/session")  # 401, documented: passes
    assert response.status_code == 401
    response.status_code = 418
    with pytest.raises(AssertionError):
        openapi_checker.check("GET", "/api/v1/session", response)
