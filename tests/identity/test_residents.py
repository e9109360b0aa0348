"""Residents from identity providers' claims: ID and mobile numbers hashed, encrypted, masked."""
from __future__ import annotations

import json
import logging

import pytest
import sqlalchemy as sa

from kiosk_backend.core.actors import SYSTEM
from kiosk_backend.core.audit import AuditEntry
from kiosk_backend.core.errors import Invalid
from kiosk_backend.identity import residents
from kiosk_backend.identity.models import Resident
from kiosk_backend.identity.providers import Claims, demo_residents

ID = "11010519491231002X"
PHONE = "13800138000"


def _checksum(number17: str) -> str:  # DOMAIN.md's algorithm, independent of python-stdnum
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return "10X98765432"[sum(int(c) * w for c, w in zip(number17, weights)) % 11]


@pytest.mark.parametrize("number", ["11010519491231002X", "440524188001010014", "360426199101010071",
                                    "11010519491231002x", " 110105 19491231 002X "])
def test_valid_id_numbers_are_normalized(number):
    assert residents.normalize_id_number(number) == number.replace(" ", "").upper()


@pytest.mark.parametrize("number", ["110105194912310021", "11010519491231002", "1101051949123100XX",
                                    "110105194902300029", "", "abcdefghijklmnopqr"])
def test_invalid_id_numbers_are_refused(number):
    with pytest.raises(ValueError):
        residents.normalize_id_number(number)


def test_an_unknown_region_is_not_a_reason_to_refuse():
    number17 = "99999919800101001"
    assert residents.normalize_id_number(number17 + _checksum(number17)) == number17 + _checksum(number17)


def test_the_demo_residents_have_valid_fictional_numbers():
    people = demo_residents()
    assert len(people) >= 3 and len({p.subject for p in people}) == len(people)
    for person in people:
        assert person.id_number[-1] == _checksum(person.id_number[:17])
        assert residents.normalize_phone(person.phone).startswith("1380000")


@pytest.mark.parametrize(("name", "masked"), [("张三", "张*"), ("李小明", "李*明"), ("欧阳娜娜", "欧**娜"),
                                              ("王", "*"), ("", ""), (" 赵六 ", "赵*")])
def test_mask_name(name, masked):
    assert residents.mask_name(name) == masked


def test_masks_and_phone_rules():
    assert residents.mask_id_number(ID) == "1101**********002X"
    assert residents.mask_phone(PHONE) == "138****8000"
    assert residents.normalize_phone("+86 138-0013-8000") == PHONE
    for bad in ("12800138000", "1380013800", "138001380001", "phone"):
        with pytest.raises(ValueError):
            residents.normalize_phone(bad)


def test_keys_come_from_the_data_key_else_from_the_secret_key():
    from_secret = residents.DataKeys.from_config({"SECRET_KEY": "s"})
    assert from_secret == residents.DataKeys.from_config({"SECRET_KEY": "s"})  # deterministic
    assert from_secret != residents.DataKeys.from_config({"SECRET_KEY": "t"})
    own = residents.DataKeys.from_config({"SECRET_KEY": "s", "KIOSK_DATA_KEY": "d" * 32})
    assert own != from_secret and own.hash_key != own.encryption_key
    assert "d" * 8 not in repr(own)
    with pytest.raises(RuntimeError):
        residents.DataKeys.from_config({})


def test_phone_encryption_round_trips_and_refuses_another_key():
    keys = residents.DataKeys.from_config({"KIOSK_DATA_KEY": "a" * 32})
    sealed = residents.encrypt_phone(PHONE, keys=keys)
    assert PHONE not in sealed and sealed != residents.encrypt_phone(PHONE, keys=keys)  # a fresh nonce each time
    assert residents.decrypt_phone(sealed, keys=keys) == PHONE
    with pytest.raises(ValueError):
        residents.decrypt_phone(sealed, keys=residents.DataKeys.from_config({"KIOSK_DATA_KEY": "b" * 32}))
    with pytest.raises(ValueError):
        residents.decrypt_phone(sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1], keys=keys)


def test_upsert_creates_then_updates_one_resident(db, clock):
    claims = Claims(subject="sub-1", name="张三", id_number=ID.lower(), phone=PHONE)
    first = residents.upsert_from_claims(db.session, provider="oidc", claims=claims, actor=SYSTEM, now=clock)
    db.session.commit()
    assert (first.name, first.id_number_masked, first.phone_masked) == ("张三", "1101**********002X", "138****8000")
    assert first.id_number_hash == residents.keyed_hash("id", ID) and len(first.id_number_hash) == 64
    assert residents.phone_of(first) == PHONE and first.last_login_at == clock()
    assert residents.find_by_id_number(db.session, ID.lower()) == [first]
    assert residents.find_by_phone(db.session, "138 0013 8000") == [first]

    clock.advance(days=1)
    again = residents.upsert_from_claims(db.session, provider="oidc", claims=Claims(
        subject="sub-1", name="张三丰", id_number=ID, phone="13900139000"), actor=SYSTEM, now=clock)
    db.session.commit()
    assert again.id == first.id and again.name == "张三丰" and again.phone_masked == "139****9000"
    assert residents.phone_of(again) == "13900139000" and again.last_login_at == clock()
    other = residents.upsert_from_claims(db.session, provider="demo", claims=claims, actor=SYSTEM, now=clock)
    assert other.id != first.id  # unique per (provider, subject)
    actions = db.session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions == ["identity.resident.create", "identity.resident.update", "identity.resident.create"]
    update = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "identity.resident.update"))
    assert update.details == {"provider": "oidc", "fields": ["name", "phone"]}


def test_upsert_refuses_bad_numbers_and_stores_nothing(db):
    for claims in (Claims(subject="s", name="张三", id_number="110105194912310021"),
                   Claims(subject="s", name="张三", phone="12345"), Claims(subject="s", name=" ")):
        with pytest.raises(Invalid):
            residents.upsert_from_claims(db.session, provider="oidc", claims=claims, actor=SYSTEM)
    assert db.session.scalar(sa.select(sa.func.count(Resident.id))) == 0


def test_claims_never_show_the_numbers_in_their_repr():
    text = repr(Claims(subject="s", name="张三", id_number=ID, phone=PHONE))
    assert ID not in text and PHONE not in text


def test_no_id_or_phone_number_in_clear_in_the_database_the_audit_log_or_the_logs(app, db, client, caplog):
    """Logins through the phone pages and the API with every demo resident, then a scan of
    every stored row (residents, sessions, audit entries) and of every captured log line."""
    caplog.set_level(logging.DEBUG)
    for person in demo_residents():
        assert client.post("/m/login/demo", data={"subject": person.subject}).status_code == 302
        answer = client.post("/api/v1/auth/token", json={"provider": "demo", "id_token": person.subject})
        assert answer.status_code == 201
        assert person.id_number not in answer.text and person.phone not in answer.text
    client.post("/api/v1/auth/token", json={"provider": "oidc", "id_token": "x"})  # refused, audited
    stored = []
    with db.engine.connect() as conn:
        for table in ("identity_resident", "identity_resident_session", "core_audit_entry"):
            stored += [json.dumps([str(value) for value in row], ensure_ascii=False)
                       for row in conn.execute(sa.text(f"SELECT * FROM {table}"))]
    logged = "\n".join(record.getMessage() + repr(record.args) for record in caplog.records)
    assert len(stored) > 10
    for person in demo_residents():
        for secret in (person.id_number, person.phone):
            assert not [row for row in stored if secret in row], secret
            assert secret not in logged


def test_first_logins_at_once_make_one_resident(app, db):
    """Ten first logins of the same person at the same moment: one resident, every login gets it."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy.orm import Session

    claims = Claims(subject="race-1", name="张三", id_number=ID, phone=PHONE)
    keys = residents.data_keys()
    barrier = threading.Barrier(10)

    def first_login(_):
        with app.app_context(), Session(bind=db.engine) as session:
            barrier.wait()
            resident = residents.upsert_from_claims(session, provider="oidc", claims=claims, actor=SYSTEM, keys=keys)
            session.commit()
            return resident.id

    with ThreadPoolExecutor(10) as pool:
        ids = list(pool.map(first_login, range(10)))
    assert len(set(ids)) == 1
    assert db.session.scalar(sa.select(sa.func.count(Resident.id))) == 1
