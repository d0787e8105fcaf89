from tests.factories import make_user
from webapp.extensions import db


def test_login_lands_on_role_home(app, client, auth, ctx):
    make_user("insp", roles=("inspector",))
    db.session.commit()
    response = auth.login("insp")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/capture/")
    assert client.get("/capture/").status_code == 200
