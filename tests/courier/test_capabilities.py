"""What a carrier can do (gateway.Capabilities, declared by each adapter): a booking the
configured carrier cannot carry out is refused by field before it is saved (快递100: no 到付,
pickups today, tomorrow or the day after), and the kiosk and the mini-app's API do not offer
such choices."""
from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from kiosk_backend.core.errors import Invalid
from kiosk_backend.courier import carriers, services
from kiosk_backend.courier.gateway import EVERYTHING, Capabilities
from kiosk_backend.courier.kuaidi100 import Kuaidi100Gateway
from kiosk_backend.courier.models import Booking, PickupSlot

from ..applications.test_api import as_resident, token_for
from ..identity.test_kiosk import log_in
from .conftest import actor_of, booking_in, china_today, ensure_authority
from .test_kiosk_pages import Flow


@pytest.fixture
def kuaidi100(app):
    """快递100 as the configured carrier (no account is needed to check a booking)."""
    before = app.config.get("KIOSK_COURIER_CARRIER")
    app.config["KIOSK_COURIER_CARRIER"] = "kuaidi100"
    yield
    app.config["KIOSK_COURIER_CARRIER"] = before


def taken(db, slot) -> int:
    db.session.expire_all()
    return db.session.get(PickupSlot, slot.id).taken


def count(db) -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(Booking))


def test_each_adapter_declares_what_it_supports_and_the_demo_carrier_takes_everything(db, make_slot, booker):
    assert Kuaidi100Gateway.capabilities.payers == frozenset({"government", "sender"})
    assert Kuaidi100Gateway.capabilities.pickup_days_ahead == 2  # 今天 / 明天 / 后天
    assert carriers.capabilities_of("demo") == EVERYTHING
    assert carriers.capabilities_of("kuaidi100") == Kuaidi100Gateway.capabilities
    far = make_slot(day=china_today() + timedelta(days=6))
    booking = services.book(db.session, booking_in(far, payer="recipient"), resident=booker, channel="mobile",
                            actor=actor_of(booker))
    assert (booking.carrier, booking.payer) == ("demo", "recipient")


def test_kuaidi100_refuses_cod_and_a_window_too_far_ahead_before_anything_is_saved(db, make_slot, booker,
                                                                                  kuaidi100):
    far = make_slot(day=china_today() + timedelta(days=3))
    with pytest.raises(Invalid) as refused:
        services.book(db.session, booking_in(far, payer="recipient"), resident=booker, channel="mobile",
                      actor=actor_of(booker))
    db.session.rollback()
    errors = refused.value.errors
    assert "到付" in errors["payer"][0] and "寄付" in errors["payer"][0] and "does not take" in errors["payer"][0]
    assert "3 天内" in errors["slot_id"][0] and "2 days ahead" in errors["slot_id"][0]
    assert "到付" in refused.value.message_zh
    assert count(db) == 0 and taken(db, far) == 0
    near = make_slot(day=china_today() + timedelta(days=2))
    booking = services.book(db.session, booking_in(near, payer="sender"), resident=booker, channel="mobile",
                            actor=actor_of(booker))
    assert booking.carrier == "kuaidi100"


def test_a_gateway_set_by_the_composition_answers_for_itself(app, db, make_slot, booker, fake_gateway):
    fake_gateway.capabilities = Capabilities(payers=frozenset({"sender"}), pickup_days_ahead=0,
                                             pickup_modes=frozenset({"counter"}))
    slot = make_slot()  # tomorrow
    with pytest.raises(Invalid) as refused:
        services.book(db.session, booking_in(slot, payer="government", pickup_mode="home"), resident=booker,
                      channel="mobile", actor=actor_of(booker))
    assert set(refused.value.errors) == {"payer", "pickup_mode", "slot_id"}


def test_the_prefill_never_proposes_cod_to_a_carrier_without_it(db, booker, make_application, kuaidi100):
    application = make_application("concluded", handling_org="深圳市公安局", handling_region="440300")
    ensure_authority(db, application.number, province_code="44", city_code="4403", county_code="440303",
                     address="解放路 4018 号")
    filled = services.prefill(db.session, resident=booker, application_number=application.number,
                              purpose="result_to_applicant")
    assert filled.payer == "sender"  # across provinces: 到付 with the demo carrier


def test_the_api_offers_only_the_payers_and_days_the_carrier_takes(client, db, booker, make_slot, make_application,
                                                                   kuaidi100):
    headers = as_resident(token_for(db, booker))
    days = [make_slot(day=china_today() + timedelta(days=n)).day for n in range(1, 6)]
    listed = client.get("/api/v1/pickup-slots?site=JZ01", headers=headers).json["items"]
    assert [item["day"] for item in listed] == [d.isoformat() for d in days[:2]]  # tomorrow, the day after
    later = client.get(f"/api/v1/pickup-slots?site=JZ01&from={days[3].isoformat()}", headers=headers)
    assert later.json["items"] == []
    prefill = client.get("/api/v1/booking-prefill?purpose=standalone", headers=headers).json
    assert prefill["payers"] == ["government", "sender"]


def test_the_kiosk_offers_neither_cod_nor_days_the_carrier_cannot_book(db, kiosk_client, booker, make_slot,
                                                                       make_application, kuaidi100):
    application = make_application("in_progress", handling_org="广州市公安局", handling_region="440100", mode="proxy")
    ensure_authority(db, application.number, province_code="44", city_code="4401", county_code="440104",
                     address="解放南路 155 号", phone="020-83115000")
    near = make_slot(day=china_today() + timedelta(days=2))
    far = make_slot(day=china_today() + timedelta(days=4))
    log_in(db, kiosk_client, booker)
    flow = Flow(kiosk_client, application.number, leg="materials")
    flow.who(), flow.where()
    assert f'value="{near.id}"' in flow.page and f'value="{far.id}"' not in flow.page
    assert flow.when(far).status_code == 422  # sent anyway: not one of the windows offered
    flow.when(near)
    assert 'name="payer" value="sender"' in flow.page and 'name="payer" value="recipient"' not in flow.page
