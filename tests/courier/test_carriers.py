"""Carrier accounts (sealed credentials, masked views, rotation keeping old salts, audit without
secrets) and gateway_for (the configured carrier, its account, overrides for tests), on SQLite
and PostgreSQL."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa

from kiosk_backend.core.actors import SYSTEM, staff
from kiosk_backend.core.audit import AuditEntry
from kiosk_backend.core.errors import Invalid
from kiosk_backend.courier import carriers
from kiosk_backend.courier.carriers import CarrierAccountNotFound
from kiosk_backend.courier.demo_carrier import DemoCarrier
from kiosk_backend.courier.gateway import CarrierRejected, OrderRequest, Party
from kiosk_backend.courier.kuaidi100 import Kuaidi100Gateway
from kiosk_backend.courier.models import CarrierAccount
from kiosk_backend.identity.residents import unseal
from tests.conftest import MONDAY_10
from tests.courier.carrier_support import booking_row
from tests.courier.kuaidi100_fake_server import FakeKuaidi100, FakeServer

ADMIN = staff("admin")
CREDENTIALS = {"key": "kioskKey0123456", "customer": "CUSTOMER0123456789", "secret": "secret-0123456789",
               "salt": "salt-0123456789abcdef0123456789ab"}
SETTINGS = {"callback_url": "https://zwfw.example.gov.cn/api/v1/courier/callbacks/kuaidi100", "company": "ems"}


def save(db, credentials=None, settings=None, carrier="kuaidi100"):
    account = carriers.save_account(db.session, carrier, CREDENTIALS if credentials is None else credentials,
                                    SETTINGS if settings is None else settings, actor=ADMIN)
    db.session.commit()
    return account


def audit_entries(db, action_prefix="courier.carrier_account"):
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action.startswith(action_prefix))
                                   .order_by(AuditEntry.id)))


# ------------------------------------------------------------------ accounts

def test_credentials_are_sealed_at_rest_and_read_back_only_by_the_service(db):
    account = save(db)
    stored = db.session.scalar(sa.select(CarrierAccount.credentials_encrypted))
    for value in CREDENTIALS.values():
        assert value not in stored
    assert carriers.credentials_of(account) == CREDENTIALS
    # Bound to its column: it does not open as another sealed value.
    with pytest.raises(ValueError):
        unseal(stored, purpose=b"identity_resident.phone")


def test_the_view_masks_every_credential_to_its_last_four_characters(db):
    view = carriers.account_view(save(db))
    assert view["credentials"] == {"customer": "…6789", "key": "…3456", "salt": "…89ab", "secret": "…6789"}
    assert view["settings"] == SETTINGS and view["active"] is True and view["previous_salts"] == 0
    assert view["updated_by"] == "admin"
    assert carriers.mask("short") == "…"


def test_the_audit_names_changed_credentials_never_their_values(db):
    save(db)
    save(db, credentials={"secret": "another-secret-000"})
    entries = audit_entries(db)
    assert [e.action for e in entries] == ["courier.carrier_account.create", "courier.carrier_account.save"]
    assert entries[1].details["credentials_changed"] == ["secret"]
    text = json.dumps([e.details for e in entries], ensure_ascii=False)
    for value in (*CREDENTIALS.values(), "another-secret-000"):
        assert value not in text


def test_saving_again_with_empty_credentials_keeps_them_and_replaces_the_settings(db):
    save(db)
    account = save(db, credentials={"key": "", "secret": None}, settings={"company": "youzhengguonei"})
    assert carriers.credentials_of(account) == CREDENTIALS
    assert account.settings == {"company": "youzhengguonei"}
    assert len(carriers.list_accounts(db.session)) == 1


def test_a_missing_salt_is_generated(db):
    account = save(db, credentials={k: v for k, v in CREDENTIALS.items() if k != "salt"})
    salt = carriers.credentials_of(account)["salt"]
    assert len(salt) == 32 and int(salt, 16) >= 0


@pytest.mark.parametrize(("carrier", "credentials", "settings", "where"), [
    ("kuaidi100", {"key": "k"}, {}, "credentials"),
    ("kuaidi100", {**CREDENTIALS, "password": "x"}, {}, "credentials"),
    ("kuaidi100", {**CREDENTIALS, "key": "a\nb"}, {}, "credentials"),
    ("kuaidi100", CREDENTIALS, {"callback_url": "http://example.com/cb"}, "settings"),
    ("kuaidi100", CREDENTIALS, {"callback_url": "https://example.com/cb?x=1"}, "settings"),
    ("kuaidi100", CREDENTIALS, {"company": "EMS"}, "settings"),
    ("kuaidi100", CREDENTIALS, {"colour": "red"}, "settings"),
    ("demo", {}, {"step_minutes": 0}, "settings"),
    ("demo", {}, {"step_minutes": "soon"}, "settings"),
    ("ups", {}, {}, "carrier"),
])
def test_accounts_that_cannot_work_are_refused_naming_the_field(db, carrier, credentials, settings, where):
    with pytest.raises(Invalid) as refused:
        carriers.save_account(db.session, carrier, credentials, settings, actor=ADMIN)
    assert where in refused.value.errors


def test_a_demo_account_holds_its_step(db):
    account = save(db, credentials={}, settings={"step_minutes": "5"}, carrier="demo")
    assert account.settings == {"step_minutes": 5.0} and carriers.credentials_of(account) == {}


def test_rotating_replaces_the_given_credentials_and_keeps_old_salts_for_pushes(db, clock):
    save(db)
    clock.advance(days=30)
    account = carriers.rotate_account(db.session, "kuaidi100", {"secret": "new-secret-0000000", "salt": "new-salt-1"},
                                      actor=ADMIN, now=clock)
    db.session.commit()
    stored = carriers.credentials_of(account)
    assert (stored["secret"], stored["salt"], stored["key"]) == ("new-secret-0000000", "new-salt-1", CREDENTIALS["key"])
    assert stored["previous_salts"] == [CREDENTIALS["salt"]] and account.rotated_at == clock()
    for n in range(4):
        carriers.rotate_account(db.session, "kuaidi100", {"salt": f"salt-{n}"}, actor=ADMIN)
    assert carriers.credentials_of(account)["previous_salts"] == ["salt-2", "salt-1", "salt-0"]
    assert carriers.account_view(account)["previous_salts"] == 3
    [first, *_] = [e for e in audit_entries(db) if e.action == "courier.carrier_account.rotate"]
    assert first.details == {"credentials_rotated": ["salt", "secret"]}


def test_an_empty_salt_in_a_rotation_asks_for_a_new_one(db):
    save(db)
    account = carriers.rotate_account(db.session, "kuaidi100", {"salt": ""}, actor=ADMIN)
    stored = carriers.credentials_of(account)
    assert len(stored["salt"]) == 32 and stored["previous_salts"] == [CREDENTIALS["salt"]]


def test_rotating_nothing_or_an_unknown_account_is_refused(db):
    with pytest.raises(CarrierAccountNotFound):
        carriers.rotate_account(db.session, "kuaidi100", {"secret": "x"}, actor=ADMIN)
    save(db)
    with pytest.raises(Invalid):
        carriers.rotate_account(db.session, "kuaidi100", {}, actor=ADMIN)


def test_an_account_is_switched_off_and_on_with_an_audit_entry(db):
    save(db)
    carriers.set_active(db.session, "kuaidi100", False, actor=ADMIN)
    carriers.set_active(db.session, "kuaidi100", False, actor=ADMIN)  # no change, no entry
    carriers.set_active(db.session, "kuaidi100", True, actor=ADMIN)
    assert [e.action for e in audit_entries(db)][-2:] == ["courier.carrier_account.disable",
                                                          "courier.carrier_account.enable"]
    with pytest.raises(CarrierAccountNotFound):
        carriers.set_active(db.session, "demo", True, actor=ADMIN)


# ------------------------------------------------------------------ gateway_for

def test_the_configured_carrier_is_the_demo_by_default_with_the_configured_step(db, app, clock):
    gateway = carriers.gateway_for(db.session, now=clock)
    assert isinstance(gateway, DemoCarrier) and gateway.step == timedelta(minutes=2)
    assert app.config["KIOSK_COURIER_CARRIER"] == "demo"
    save(db, credentials={}, settings={"step_minutes": 7}, carrier="demo")
    assert carriers.gateway_for(db.session, "demo").step == timedelta(minutes=7)


def test_kuaidi100_needs_an_active_account(db):
    with pytest.raises(CarrierRejected) as refused:
        carriers.gateway_for(db.session, "kuaidi100")
    assert refused.value.code == "not_configured"
    save(db)
    assert isinstance(carriers.gateway_for(db.session, "kuaidi100"), Kuaidi100Gateway)
    carriers.set_active(db.session, "kuaidi100", False, actor=SYSTEM)
    with pytest.raises(CarrierRejected):
        carriers.gateway_for(db.session, "kuaidi100")


def test_the_callback_url_defaults_to_the_public_url(db, monkeypatch):
    save(db, settings={})
    monkeypatch.setitem(carriers.current_app.config, "KIOSK_PUBLIC_URL", "https://zwfw.example.gov.cn/")
    gateway = carriers.gateway_for(db.session, "kuaidi100")
    assert gateway.callback_url == "https://zwfw.example.gov.cn/api/v1/courier/callbacks/kuaidi100"
    monkeypatch.setitem(carriers.current_app.config, "KIOSK_PUBLIC_URL", "")
    with pytest.raises(CarrierRejected):
        carriers.gateway_for(db.session, "kuaidi100")


def test_an_unknown_carrier_is_refused(db):
    with pytest.raises(CarrierRejected) as refused:
        carriers.gateway_for(db.session, "ups")
    assert refused.value.code == "unknown_carrier"


def test_tests_may_put_a_gateway_in_the_apps_extensions(db, app, clock):
    fake = DemoCarrier(ledger=None, now=clock)
    try:
        app.extensions["courier_gateway"] = fake
        assert carriers.gateway_for(db.session) is fake
        with pytest.raises(CarrierRejected):  # a gateway stands in for its own carrier only
            carriers.gateway_for(db.session, "kuaidi100")
        app.extensions["courier_gateway"] = {"kuaidi100": fake}
        assert carriers.gateway_for(db.session, "kuaidi100") is fake
        assert carriers.gateway_for(db.session, "demo") is not fake
        app.extensions["courier_gateway"] = lambda session, name: fake
        assert carriers.gateway_for(db.session, "anything") is fake
    finally:
        app.extensions.pop("courier_gateway", None)


def test_a_kuaidi100_order_placed_through_gateway_for_is_not_placed_twice(db, app, site, monkeypatch):
    fake = FakeKuaidi100(accounts={CREDENTIALS["key"]: (CREDENTIALS["customer"], CREDENTIALS["secret"])},
                         clock=lambda: MONDAY_10.timestamp())
    with FakeServer(fake) as server:
        monkeypatch.setitem(app.config, "KIOSK_KUAIDI100_ENDPOINT", server.url)
        save(db)
        booking = booking_row(db.session, site, created_at=MONDAY_10, carrier="kuaidi100")
        party = Party(name="张三", mobile="13900139000", province_code="11", city_code="1101", county_code="110105",
                      province="北京市", city="市辖区", county="朝阳区", address="朝阳路 1 号")
        request = OrderRequest(order_no=booking.order_no, sender=party, recipient=party, item_name="证照", pieces=1,
                               weight_grams=300, insured_value_fen=0, payer="government", pickup_start=None,
                               pickup_end=None)
        placed = carriers.gateway_for(db.session, "kuaidi100", now=lambda: MONDAY_10).create_order(request)
        booking.carrier_task_id, booking.waybill_no, booking.carrier_company = (placed.task_id, placed.waybill_no,
                                                                                placed.company)
        db.session.flush()
        again = carriers.gateway_for(db.session, "kuaidi100", now=lambda: MONDAY_10).create_order(request)
    assert again.already_existed and (again.task_id, again.waybill_no) == (placed.task_id, placed.waybill_no)
    assert len(fake.orders) == 1 and len(fake.requests) == 1
