"""The OpenAPI document fuzzed with schemathesis, in-process against the WSGI app with a bearer token:
no 5xx, and every response (status, content type, body) matches what the document promises.

Bounded (a few dozen examples per operation) so it stays under a minute; the hostile-input corpus
(tests/test_hostile_input.py) covers the inputs a generator is unlikely to reach.
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (content_type_conformance, not_a_server_error, response_schema_conformance,
                                 status_code_conformance)

from tests.factories import category, make_community, make_site, make_street
from tests.workflow_support import fast_user
from webapp.api.openapi import build_spec
from webapp.auth.tokens import issue_token
from webapp.extensions import db

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def _bearer(app, role: str) -> dict:
    """Places and categories to refer to, and a token for one role (inspectors create, the desk acts)."""
    with app.app_context():
        street = make_street("古楼街道")
        community = make_community(street, "香江社区")
        make_site(community, "湖西早市", kind="market", zones=("活禽区",))
        category("litter")
        token = issue_token(fast_user(role, roles=(role,)), "fuzz")
        db.session.commit()
        db.session.remove()
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def inspector_bearer(app):
    return _bearer(app, "inspector")


@pytest.fixture
def desk_bearer(app):
    return _bearer(app, "desk")


# Loaded from the document the app serves (built without an app; the first test proves they are the
# same) and sent to the test app in-process (``app=``): schemathesis' fixture-based loader does not
# work with pytest 9 (it sets Node._nodeid).
schema = schemathesis.openapi.from_dict(build_spec())


def test_the_document_served_is_the_one_fuzzed(client):
    assert client.get("/api/v1/openapi.json").get_json() == build_spec()


FUZZ = settings(max_examples=15, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.filter_too_much])


@pytest.mark.slow
@schema.parametrize()
@FUZZ
def test_api_matches_its_document_for_an_inspector(app, case, inspector_bearer):
    case.call_and_validate(app=app, headers=inspector_bearer, checks=CHECKS)


@pytest.mark.slow
@schema.parametrize()
@FUZZ
def test_api_matches_its_document_for_the_desk(app, case, desk_bearer):
    case.call_and_validate(app=app, headers=desk_bearer, checks=CHECKS)
