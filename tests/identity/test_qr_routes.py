"""QR login over HTTP: the kiosk's login screen and its poll (identity/qr_kiosk.py), the
phone's page (identity/qr_mobile.py), the mini-app's API (identity/qr_api.py), and their
rate limits on memory and Redis storage."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from kiosk_backend.core.actors import SYSTEM
from kiosk_backend.core.clock import utcnow
from kiosk_backend.identity import qr_kiosk, sessions
from kiosk_backend.identity.models import LoginChallenge, ResidentSession
from tests.conftest import RELAXED_RATE_LIMITS, SITE

POLL = re.compile(r'data-poll-url="(/kiosk/login/challenges/(\d+))"')


@pytest.fixture
def shown(monkeypatch):
    """The phone URLs the login screen put into its QR codes, newest last."""
    urls: list[str] = []
    real = qr_kiosk.public_url

    def spy(path):
        url = real(path)
        urls.append(url)
        return url

    monkeypatch.setattr(qr_kiosk, "public_url", spy)
    return urls


def open_login(kiosk_client, shown):
    """The kiosk opens 扫码登录: (poll path, challenge id, the phone's path, the page)."""
    page = kiosk_client.get("/kiosk/login")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    poll, challenge_id = POLL.search(html).groups()
    return poll, int(challenge_id), "/m/login/" + shown[-1].rsplit("/m/login/", 1)[1], html


def phone(app, resident):
    """A phone logged in as ``resident`` (its ``resident_session`` cookie)."""
    from kiosk_backend.extensions import db

    _, token = sessions.start(db.session, channel="mobile", idle_seconds=1800, absolute_seconds=43200,
                              resident=resident, actor=SYSTEM)
    db.session.commit()
    client = app.test_client()
    client.set_cookie("resident_session", token, path="/m")
    return client


def api_headers(db, resident) -> dict:
    _, token = sessions.start(db.session, channel="api", idle_seconds=1800, absolute_seconds=43200,
                              resident=resident, actor=SYSTEM)
    db.session.commit()
    return {"Authorization": f"Resident {token}"}


def challenge(db, challenge_id) -> LoginChallenge:
    db.session.expire_all()
    return db.session.get(LoginChallenge, challenge_id)


def age(db, challenge_id, seconds=121):
    """Move a challenge's deadline into the past (the routes use the real clock)."""
    row = db.session.get(LoginChallenge, challenge_id)
    row.expires_at = utcnow() - timedelta(seconds=seconds - 120)
    db.session.commit()


# ================================================================== the kiosk's screen


def test_home_offers_qr_login(kiosk_client):
    html = kiosk_client.get("/kiosk/").get_data(as_text=True)
    assert 'href="/kiosk/login"' in html and "扫码登录" in html


def test_the_login_screen_shows_a_qr_of_the_public_url_the_match_code_and_a_countdown(app, kiosk_client, shown, db):
    app.config["KIOSK_PUBLIC_URL"] = "https://zwfw.example.gov.cn"
    try:
        poll, challenge_id, _, html = open_login(kiosk_client, shown)
    finally:
        app.config["KIOSK_PUBLIC_URL"] = ""
    row = challenge(db, challenge_id)
    assert re.fullmatch(r"https://zwfw\.example\.gov\.cn/m/login/[A-Za-z0-9_-]{32}", shown[-1])
    assert (row.state, row.kiosk_id) == ("pending", kiosk_client.kiosk.id)
    assert 'src="data:image/png;base64,' in html
    assert f'data-phone-url="{shown[-1]}"' in html
    assert f'<p class="qr-match" id="qr-match" aria-describedby="qr-match-hint">{row.match_code}</p>' in html
    assert 'data-expires-in="120"' in html and 'data-refresh-after="105"' in html and 'data-poll-ms="500"' in html
    assert "105 秒后更换二维码" in html  # a new code 15 s before this one expires
    assert "<script>" not in html and "style=" not in html  # CSP: no inline script or style


@pytest.mark.parametrize("demo", [True, False])
def test_only_the_demo_spells_the_phone_address_out_for_a_second_browser(app, kiosk_client, shown, monkeypatch, demo):
    monkeypatch.setitem(app.config, "KIOSK_DEMO", demo)
    *_, html = open_login(kiosk_client, shown)
    assert (f'<span class="qr-demo-url">{shown[-1]}</span>' in html) is demo


def test_a_new_screen_expires_the_code_before(kiosk_client, shown, db):
    _, first, _, _ = open_login(kiosk_client, shown)
    _, second, _, _ = open_login(kiosk_client, shown)
    assert (challenge(db, first).state, challenge(db, second).state) == ("expired", "pending")


def test_a_kiosk_with_someone_logged_in_goes_home_instead(kiosk_client, db, make_resident):
    _, token = sessions.start(db.session, channel="kiosk", idle_seconds=300, absolute_seconds=900,
                              resident=make_resident(), kiosk_id=kiosk_client.kiosk.id, actor=SYSTEM)
    db.session.commit()
    kiosk_client.set_cookie("kiosk_session", token, path="/kiosk")
    assert 'id="qr-login-entry"' not in kiosk_client.get("/kiosk/").get_data(as_text=True)
    answer = kiosk_client.get("/kiosk/login")
    assert answer.status_code == 302 and answer.headers["Location"] == "/kiosk/"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginChallenge)) == 0


def test_the_login_screen_needs_an_authorized_kiosk(app, make_kiosk):
    _, credential = make_kiosk(authorized=False)
    client = app.test_client()
    client.set_cookie("kiosk_credential", credential)
    assert client.get("/kiosk/login").status_code == 403
    assert app.test_client().get("/kiosk/login").status_code == 302  # no credential: activation


# ================================================================== the poll


def test_poll_answers_with_etag_and_304_while_nothing_changed(app, kiosk_client, shown, db, make_resident):
    poll, challenge_id, phone_path, _ = open_login(kiosk_client, shown)
    first = kiosk_client.get(poll)
    assert first.status_code == 200 and first.json["state"] == "pending" and 0 < first.json["expires_in"] <= 120
    assert first.headers["Cache-Control"] == "no-cache" and first.headers["ETag"] == f'"{challenge_id}.1"'
    again = kiosk_client.get(poll, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304 and again.get_data() == b""
    phone(app, make_resident()).get(phone_path)  # scanned
    scanned = kiosk_client.get(poll, headers={"If-None-Match": first.headers["ETag"]})
    assert (scanned.status_code, scanned.json, scanned.headers["ETag"]) == (200, {"state": "scanned", "expires_in":
                                                                                scanned.json["expires_in"]},
                                                                            f'"{challenge_id}.2"')


def test_poll_of_a_confirmed_code_logs_the_kiosk_in_once(app, kiosk_client, shown, db, make_resident):
    resident = make_resident()
    poll, challenge_id, phone_path, _ = open_login(kiosk_client, shown)
    handset = phone(app, resident)
    handset.get(phone_path)
    assert handset.post(phone_path + "/confirm").status_code == 200
    answer = kiosk_client.get(poll)
    assert answer.json == {"state": "consumed", "next": "/kiosk/"}
    cookie = kiosk_client.get_cookie("kiosk_session", path="/kiosk")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Strict"
    record = db.session.scalar(sa.select(ResidentSession).where(ResidentSession.channel == "kiosk"))
    assert (record.resident_id, record.kiosk_id) == (resident.id, kiosk_client.kiosk.id)
    assert sessions.lookup(db.session, cookie.value, channel="kiosk", kiosk_id=kiosk_client.kiosk.id) is not None
    assert challenge(db, challenge_id).session_id == record.id
    replay = kiosk_client.get(poll)
    assert replay.json == {"state": "consumed"} and "kiosk_session=" not in replay.headers.get("Set-Cookie", "")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ResidentSession)
                             .where(ResidentSession.channel == "kiosk")) == 1


def test_another_kiosk_cannot_poll_or_take_the_code(app, kiosk_client, shown, make_kiosk, make_resident):
    poll, _, phone_path, _ = open_login(kiosk_client, shown)
    handset = phone(app, make_resident())
    handset.get(phone_path)
    handset.post(phone_path + "/confirm")
    other = app.test_client()
    other.set_cookie("kiosk_credential", make_kiosk()[1])
    assert other.get(poll).status_code == 404
    assert other.get_cookie("kiosk_session", path="/kiosk") is None
    assert kiosk_client.get(poll).json["state"] == "consumed"


def test_poll_of_an_expired_code_says_expired_without_writing(kiosk_client, shown, db):
    poll, challenge_id, _, _ = open_login(kiosk_client, shown)
    age(db, challenge_id)
    answer = kiosk_client.get(poll)
    assert answer.json == {"state": "expired"} and answer.headers["ETag"] == f'"{challenge_id}.1x"'
    assert challenge(db, challenge_id).state == "pending"  # the deadline says so; no write needed


def _statements(app, db, request) -> list[str]:
    statements: list[str] = []

    def log(conn, cursor, statement, *args):
        statements.append(" ".join(statement.split()))

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", log)
    try:
        request()
    finally:
        sa.event.remove(engine, "before_cursor_execute", log)
    return statements


def test_a_poll_reads_one_row_and_writes_nothing(app, kiosk_client, shown, db, make_resident):
    """The unchanged poll (304) is one SELECT joining the kiosk, by its credential, to the
    challenge by id, below Flask; a poll that finds news reads the challenge by id after the
    kiosk's gate. Neither writes, not even the kiosk session (a poll is not activity)."""
    poll, challenge_id, _, _ = open_login(kiosk_client, shown)
    _, token = sessions.start(db.session, channel="kiosk", idle_seconds=300, absolute_seconds=900,
                              resident=make_resident(), kiosk_id=kiosk_client.kiosk.id, actor=SYSTEM)
    db.session.commit()
    kiosk_client.set_cookie("kiosk_session", token, path="/kiosk")
    answers = []
    full = _statements(app, db, lambda: answers.append(kiosk_client.get(poll)))
    etag = answers[0].headers["ETag"]
    unchanged = _statements(app, db, lambda: answers.append(kiosk_client.get(poll, headers={"If-None-Match": etag})))
    assert [a.status_code for a in answers] == [200, 304]
    assert answers[1].headers["ETag"] == etag and answers[1].headers["Cache-Control"] == "no-cache"
    for statements in (full, unchanged):
        assert [s for s in statements if s.split()[0].upper() in ("INSERT", "UPDATE", "DELETE")] == []
    reads = [s for s in full if "identity_login_challenge" in s]
    assert len(reads) == 1 and "WHERE identity_login_challenge.id =" in reads[0]
    assert "JOIN" not in reads[0]  # four columns of one row, not the resident with it
    assert len(unchanged) == 1 and "JOIN fleet_kiosk" in unchanged[0] and "credential_hash" in unchanged[0]


@pytest.mark.parametrize("case", ["other kiosk", "no credential", "scanned", "confirmed", "expired", "maintenance"])
def test_the_304_shortcut_answers_only_an_unchanged_live_challenge_of_this_kiosk(app, kiosk_client, shown, db,
                                                                               make_kiosk, make_resident, case):
    poll, challenge_id, phone_path, _ = open_login(kiosk_client, shown)
    etag = kiosk_client.get(poll).headers["ETag"]
    asking = kiosk_client
    if case == "other kiosk":
        asking = app.test_client()
        asking.set_cookie("kiosk_credential", make_kiosk()[1])
    elif case == "no credential":
        asking = app.test_client()
    elif case in ("scanned", "confirmed"):
        handset = phone(app, make_resident())
        handset.get(phone_path)
        if case == "confirmed":
            handset.post(phone_path + "/confirm")
    elif case == "expired":
        age(db, challenge_id)
    elif case == "maintenance":
        kiosk = db.session.get(type(kiosk_client.kiosk), kiosk_client.kiosk.id)
        kiosk.maintenance = True
        db.session.commit()
    answer = asking.get(poll, headers={"If-None-Match": etag})
    expected = {"other kiosk": (404, "unknown"), "no credential": (302, None), "scanned": (200, "scanned"),
                "confirmed": (200, "consumed"), "expired": (200, "expired"), "maintenance": (503, None)}[case]
    assert answer.status_code == expected[0]
    if expected[1]:
        assert answer.json["state"] == expected[1]


# ================================================================== the phone


def test_the_phone_must_log_in_first_and_comes_back(app, kiosk_client, shown):
    _, _, phone_path, _ = open_login(kiosk_client, shown)
    answer = app.test_client().get(phone_path)
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/m/login?next=") and phone_path in answer.headers["Location"]


def test_the_phone_shows_where_and_the_match_code_with_two_equal_answers(app, kiosk_client, shown, db,
                                                                          make_resident):
    resident = make_resident()
    _, challenge_id, phone_path, _ = open_login(kiosk_client, shown)
    page = phone(app, resident).get(phone_path)
    html = page.get_data(as_text=True)
    row = challenge(db, challenge_id)
    assert page.status_code == 200 and (row.state, row.resident_id) == ("scanned", resident.id)
    for shown_text in (SITE["name"], SITE["address"], kiosk_client.kiosk.number, row.match_code, "确认登录",
                       "不是我 / 我不在这台机器前"):
        assert shown_text in html
    assert 'class="button primary qr-answer" id="qr-confirm"' in html and 'class="button qr-answer" id="qr-deny"' in html
    assert f'action="{phone_path}/confirm"' in html and f'action="{phone_path}/deny"' in html


def test_deny_on_the_phone_flags_the_code_and_the_kiosk_shows_a_new_one(app, kiosk_client, shown, db,
                                                                         make_resident):
    poll, challenge_id, phone_path, _ = open_login(kiosk_client, shown)
    handset = phone(app, make_resident())
    handset.get(phone_path)
    answer = handset.post(phone_path + "/deny")
    assert answer.status_code == 200 and "已取消此次登录" in answer.get_data(as_text=True)
    row = challenge(db, challenge_id)
    assert (row.state, row.flagged) == ("denied", True)
    assert kiosk_client.get(poll).json == {"state": "denied"}
    assert kiosk_client.get_cookie("kiosk_session", path="/kiosk") is None
    assert handset.post(phone_path + "/confirm").status_code == 200  # the plain page, not an error
    assert challenge(db, challenge_id).state == "denied"


def test_a_double_tap_on_confirm_shows_it_confirmed(app, kiosk_client, shown, make_resident):
    _, _, phone_path, _ = open_login(kiosk_client, shown)
    handset = phone(app, make_resident())
    handset.get(phone_path)
    handset.post(phone_path + "/confirm")
    again = handset.post(phone_path + "/confirm")
    assert again.status_code == 200 and 'data-outcome="confirmed"' in again.get_data(as_text=True)


@pytest.mark.parametrize("case", ["unknown", "expired", "consumed", "denied", "taken"])
def test_a_code_that_cannot_be_used_gets_a_plain_page_saying_what_to_do(app, kiosk_client, shown, db,
                                                                        make_resident, case):
    resident = make_resident()
    poll, challenge_id, phone_path, _ = open_login(kiosk_client, shown)
    if case == "unknown":
        phone_path = "/m/login/" + "A" * 32
    elif case == "expired":
        age(db, challenge_id)
    else:
        owner = phone(app, make_resident("李四")) if case == "taken" else phone(app, resident)
        owner.get(phone_path)
        if case != "taken":
            owner.post(phone_path + ("/deny" if case == "denied" else "/confirm"))
        if case == "consumed":
            kiosk_client.get(poll)
    page = phone(app, resident).get(phone_path)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f'data-reason="{case}"' in html and "请扫描终端屏幕上正在显示的新二维码" in html
    assert 'class="error' not in html


def test_a_confirm_posted_from_another_site_is_refused(app, kiosk_client, shown, db, make_resident):
    _, challenge_id, phone_path, _ = open_login(kiosk_client, shown)
    handset = phone(app, make_resident())
    handset.get(phone_path)
    answer = handset.post(phone_path + "/confirm", headers={"Origin": "https://evil.example"})
    assert answer.status_code == 403 and challenge(db, challenge_id).state == "scanned"


# ================================================================== the mini-app's API


def test_api_scan_confirm_and_the_kiosk_logs_in(app, client, kiosk_client, shown, db, make_resident):
    resident = make_resident()
    poll, challenge_id, phone_path, _ = open_login(kiosk_client, shown)
    token = phone_path.rsplit("/", 1)[1]
    headers = api_headers(db, resident)
    scanned = client.post("/api/v1/qr-login/scan", json={"token": token}, headers=headers)
    row = challenge(db, challenge_id)
    assert scanned.status_code == 200
    assert scanned.json | {"expires_at": None} == {"state": "scanned", "match_code": row.match_code,
                                                   "site": SITE["name"], "address": SITE["address"],
                                                   "kiosk_number": kiosk_client.kiosk.number, "expires_at": None}
    confirmed = client.post("/api/v1/qr-login/confirm", json={"token": token}, headers=headers)
    assert (confirmed.status_code, confirmed.json["state"]) == (200, "confirmed")
    second = client.post("/api/v1/qr-login/confirm", json={"token": token}, headers=headers)
    assert second.status_code == 409 and second.json["message_zh"]
    assert kiosk_client.get(poll).json["state"] == "consumed"


def test_api_refusals(app, client, kiosk_client, shown, db, make_resident):
    resident, stranger = make_resident(), make_resident("李四")
    _, challenge_id, phone_path, _ = open_login(kiosk_client, shown)
    token = phone_path.rsplit("/", 1)[1]
    headers = api_headers(db, resident)
    unauthenticated = client.post("/api/v1/qr-login/scan", json={"token": token})
    assert unauthenticated.status_code == 401 and unauthenticated.headers["WWW-Authenticate"].startswith("Resident")
    assert client.post("/api/v1/qr-login/confirm", json={"token": token}, headers=headers).status_code == 409
    assert client.post("/api/v1/qr-login/scan", json={"token": "A" * 32}, headers=headers).status_code == 404
    assert client.post("/api/v1/qr-login/scan", json={}, headers=headers).status_code == 422
    assert client.post("/api/v1/qr-login/scan", json={"token": token}, headers=headers).status_code == 200
    other = api_headers(db, stranger)
    for step in ("scan", "confirm", "deny"):
        assert client.post(f"/api/v1/qr-login/{step}", json={"token": token}, headers=other).status_code == 403
    age(db, challenge_id)
    gone = client.post("/api/v1/qr-login/confirm", json={"token": token}, headers=headers)
    assert gone.status_code == 410 and gone.json["errors"] == {"state": ["expired"]}


def test_api_deny_flags(client, kiosk_client, shown, db, make_resident):
    resident = make_resident()
    _, challenge_id, phone_path, _ = open_login(kiosk_client, shown)
    token = phone_path.rsplit("/", 1)[1]
    headers = api_headers(db, resident)
    client.post("/api/v1/qr-login/scan", json={"token": token}, headers=headers)
    denied = client.post("/api/v1/qr-login/deny", json={"token": token}, headers=headers)
    assert denied.json["state"] == "denied" and challenge(db, challenge_id).flagged


def test_the_api_is_documented_with_its_errors(client):
    spec = client.get("/api/v1/openapi.json").json
    operation = spec["paths"]["/api/v1/qr-login/confirm"]["post"]
    assert {"401", "403", "404", "409", "410", "429"} <= set(operation["responses"])
    assert operation["security"] == [{"resident": []}]


# ================================================================== rate limits


@pytest.fixture(scope="module", params=["memory", "redis"])
def limited_app(request, make_app):
    """An app with tiny QR limits on the given storage, an authorized kiosk and two residents."""
    from kiosk_backend.extensions import db, limiter
    from kiosk_backend.fleet import services as fleet
    from kiosk_backend.identity.models import Resident
    from kiosk_backend.sites.services import create_site
    from tests.core.test_ratelimit import storage_config

    app = make_app(**{**RELAXED_RATE_LIMITS, **storage_config(request.param),
                      "KIOSK_RATELIMIT_QR_KIOSK": "3/minute", "KIOSK_RATELIMIT_QR_RESIDENT": "4/minute",
                      "KIOSK_RATELIMIT_QR_IP": "6/minute"})
    with app.app_context():
        site = create_site(db.session, actor=SYSTEM, **SITE)
        code, _ = fleet.create_enrolment_code(db.session, site=site, actor="test", pre_authorized=True)
        app.credential = fleet.activate(db.session, code=code, profile="post-office-portrait")[1]
        app.residents = [Resident(provider="demo", subject=f"limit-{i}", name="张三") for i in range(2)]
        db.session.add_all(app.residents)
        db.session.commit()
        app.resident_ids = [r.id for r in app.residents]
    yield app
    with app.app_context():
        limiter.reset()
        db.session.remove()


@pytest.fixture
def limited(limited_app):
    from kiosk_backend.extensions import db, limiter

    with limited_app.app_context():
        limiter.reset()
        yield limited_app
        db.session.remove()


def test_challenges_are_limited_per_kiosk(limited):
    kiosk = limited.test_client()
    kiosk.set_cookie("kiosk_credential", limited.credential)
    assert [kiosk.get("/kiosk/login").status_code for _ in range(4)] == [200, 200, 200, 429]
    refused = kiosk.get("/kiosk/login")
    assert refused.headers["Retry-After"]


def test_scans_and_confirms_are_limited_per_resident_and_per_ip(limited):
    from kiosk_backend.extensions import db
    from kiosk_backend.identity.models import Resident

    first, second = (db.session.get(Resident, i) for i in limited.resident_ids)
    one, two = phone(limited, first), phone(limited, second)
    # Per resident: four scans, confirms or denials a minute (unknown codes count too).
    assert [one.get("/m/login/" + "A" * 32).status_code for _ in range(5)] == [200] * 4 + [429]
    # Per address: six a minute from one IP, whoever asks (five were counted above, the
    # refused one included).
    assert [two.post("/m/login/" + "B" * 32 + "/confirm").status_code for _ in range(2)] == [200, 429]
    other_ip = phone(limited, second)
    other_ip.environ_base["REMOTE_ADDR"] = "10.9.8.7"
    assert other_ip.get("/m/login/" + "C" * 32).status_code == 200
    # The mini-app shares the budget: the first resident is spent.
    headers = api_headers(db, first)
    api = limited.test_client()
    api.environ_base["REMOTE_ADDR"] = "10.1.1.1"
    assert api.post("/api/v1/qr-login/scan", json={"token": "A" * 32}, headers=headers).status_code == 429
