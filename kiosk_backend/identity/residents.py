"""Residents (群众) as identity providers vouch for them, and how their personal data is kept.

DOMAIN.md, "Identity formats": the ID number (居民身份证号码, GB 11643) and the mobile number
are sensitive personal information.

- The ID number is kept only as a keyed hash (HMAC-SHA256, for lookup) and masked
  (``1101**********002X``); the clear number is never stored, logged or audited.
- The mobile number is kept encrypted (AES-256-GCM: later features send SMS notices), as a
  keyed hash for lookup and masked (``138****8000``).

Keys come from ``KIOSK_DATA_KEY`` (required in production, see
config.check_production_config); in the demo and tests they are derived from SECRET_KEY.
Two independent keys are derived from the one setting (HMAC with distinct labels): one for
the hashes, one for encryption. Changing the setting makes stored hashes unmatchable and
stored phones unreadable: it is set once per deployment.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from stdnum.cn import ric
from stdnum.exceptions import ValidationError

from ..core import audit
from ..core.actors import Actor
from ..core.clock import utcnow
from ..core.errors import Invalid
from .models import Resident
from .providers import Claims

PHONE = re.compile(r"^1[3-9]\d{9}$")
_ID_SHAPE = re.compile(r"^\d{17}[\dX]$")
_CIPHER_VERSION = "v1"
_PHONE_AAD = b"identity_resident.phone"


# ---------------------------------------------------------------- formats

def normalize_id_number(value: str) -> str:
    """The ID number upper-cased without blanks if it is a valid GB 11643 number (18
    characters, ISO 7064 MOD 11-2 check character, a real birth date); raises ValueError
    otherwise. Region codes are not checked: old numbers keep regions that no longer exist."""
    number = re.sub(r"\s", "", value or "").upper()
    if not _ID_SHAPE.match(number):
        raise ValueError("an ID number has 17 digits and a check character (digit or X)")
    if ric.calc_check_digit(number) != number[-1]:
        raise ValueError("the ID number's check character does not match")
    try:
        ric.get_birth_date(number)
    except ValidationError:
        raise ValueError("the ID number's birth date does not exist") from None
    return number


def normalize_phone(value: str) -> str:
    """A mainland mobile number (``^1[3-9]\\d{9}$``), blanks and a +86 prefix removed;
    raises ValueError otherwise."""
    number = re.sub(r"[\s-]", "", value or "")
    number = number.removeprefix("+86")
    if not PHONE.match(number):
        raise ValueError("a mobile number has 11 digits starting 13–19")
    return number


def mask_id_number(number: str) -> str:
    """``11010519491231002X`` → ``1101**********002X``."""
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def mask_phone(number: str) -> str:
    """``13800138000`` → ``138****8000``."""
    return number[:3] + "****" + number[-4:]


def mask_name(name: str) -> str:
    """A name shown on a shared screen: 张三 → 张*, 李小明 → 李*明, 欧阳娜娜 → 欧**娜; one
    character becomes ``*``."""
    name = (name or "").strip()
    if len(name) <= 1:
        return "*" if name else ""
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


# ---------------------------------------------------------------- keys

@dataclass(frozen=True, slots=True)
class DataKeys:
    """The keys for residents' personal data (``repr`` shows none of them)."""

    hash_key: bytes
    encryption_key: bytes

    def __repr__(self) -> str:
        return "<DataKeys>"

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> DataKeys:
        """From KIOSK_DATA_KEY, else (demo and tests only: production refuses to start
        without it) from SECRET_KEY. Raises RuntimeError when neither is set."""
        master = str(config.get("KIOSK_DATA_KEY") or "")
        if not master:
            secret = str(config.get("SECRET_KEY") or "")
            if not secret:
                raise RuntimeError("KIOSK_DATA_KEY (or, in the demo and tests, SECRET_KEY) is not set")
            master = hmac.new(secret.encode(), b"kiosk-backend resident data key", hashlib.sha256).hexdigest()
        root = master.encode()
        return cls(hash_key=hmac.new(root, b"resident lookup hash", hashlib.sha256).digest(),
                   encryption_key=hmac.new(root, b"resident encryption", hashlib.sha256).digest())


def data_keys() -> DataKeys:
    return DataKeys.from_config(current_app.config)


def keyed_hash(kind: str, value: str, *, keys: DataKeys | None = None) -> str:
    """HMAC-SHA256 hex of a normalized value of ``kind`` ("id" or "phone"): equal values
    match, and nobody without the key can test guesses against the table."""
    keys = keys or data_keys()
    return hmac.new(keys.hash_key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def seal(value: str, *, purpose: bytes, keys: DataKeys | None = None) -> str:
    """``v1.<base64url(nonce | AES-GCM ciphertext and tag)>`` of ``value``, bound to ``purpose``
    (the column it is stored in): a value sealed for one column does not open as another's."""
    keys = keys or data_keys()
    nonce = os.urandom(12)
    sealed = AESGCM(keys.encryption_key).encrypt(nonce, value.encode(), purpose)
    return f"{_CIPHER_VERSION}." + base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")


def unseal(stored: str, *, purpose: bytes, keys: DataKeys | None = None) -> str:
    """The clear value of :func:`seal`'s output; raises ValueError for a value that was not
    sealed with this key for this purpose (tampered, moved, or another deployment's)."""
    keys = keys or data_keys()
    version, _, body = (stored or "").partition(".")
    if version != _CIPHER_VERSION or not body:
        raise ValueError("not a sealed value")
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        return AESGCM(keys.encryption_key).decrypt(raw[:12], raw[12:], purpose).decode()
    except (InvalidTag, ValueError):
        raise ValueError("the value was not sealed with this key for this purpose") from None


def encrypt_phone(number: str, *, keys: DataKeys | None = None) -> str:
    """The phone number sealed for the phone columns (:func:`seal`)."""
    return seal(number, purpose=_PHONE_AAD, keys=keys)


def decrypt_phone(stored: str, *, keys: DataKeys | None = None) -> str:
    """The clear number of :func:`encrypt_phone`'s output; raises ValueError for a value
    that was not sealed with this key (tampered, or another deployment's)."""
    try:
        return unseal(stored, purpose=_PHONE_AAD, keys=keys)
    except ValueError:
        raise ValueError("the phone number was not encrypted with this key") from None


def phone_of(resident: Resident, *, keys: DataKeys | None = None) -> str | None:
    """The resident's mobile number in clear (for an SMS notice), or None."""
    return decrypt_phone(resident.phone_encrypted, keys=keys) if resident.phone_encrypted else None


# ---------------------------------------------------------------- residents

def upsert_from_claims(session: Session, *, provider: str, claims: Claims, actor: Actor, now=utcnow,
                       keys: DataKeys | None = None) -> Resident:
    """The resident ``provider`` vouches for with ``claims`` (unique by provider and subject),
    created on their first login and updated with what the provider says now; their last
    login is set to now. Flushes; audited ``identity.resident.create`` or
    ``identity.resident.update`` (naming changed fields, never their values).

    Raises :class:`~kiosk_backend.core.errors.Invalid` when the provider sends an ID number or
    mobile number that is not valid (the login is refused rather than storing bad data).
    """
    keys = keys or data_keys()
    fields = _personal_fields(claims, keys)
    moment = now()
    resident = _find(session, provider, claims.subject)
    if resident is None:
        resident = Resident(provider=provider, subject=claims.subject, last_login_at=moment, **fields)
        try:
            with session.begin_nested():  # two first logins at once: the second finds the first
                session.add(resident)
                session.flush()
        except IntegrityError:
            resident = _find(session, provider, claims.subject)
            if resident is None:
                raise
        else:
            audit.record(session, actor=actor, action="identity.resident.create", target=f"resident:{resident.id}",
                         details={"provider": provider}, now=now)
            session.flush()
            return resident
    changed = sorted(name for name, value in fields.items()
                     if value is not None and name != "phone_encrypted" and getattr(resident, name) != value)
    for name, value in fields.items():
        if value is not None and (name != "phone_encrypted" or "phone_hash" in changed):
            setattr(resident, name, value)
    resident.last_login_at = moment
    if changed:
        audit.record(session, actor=actor, action="identity.resident.update", target=f"resident:{resident.id}",
                     details={"provider": provider, "fields": [name.removesuffix("_hash") for name in changed
                                                               if not name.endswith("_masked")]}, now=now)
    session.flush()
    return resident


def _find(session: Session, provider: str, subject: str) -> Resident | None:
    return session.scalar(sa.select(Resident).where(Resident.provider == provider, Resident.subject == subject))


def _personal_fields(claims: Claims, keys: DataKeys) -> dict[str, str | None]:
    fields: dict[str, str | None] = {"name": claims.name.strip()[:100] if claims.name else None,
                                     "id_number_hash": None, "id_number_masked": None,
                                     "phone_encrypted": None, "phone_hash": None, "phone_masked": None}
    if not fields["name"]:
        raise Invalid("The identity provider sent no name.", "身份认证平台未提供姓名。",
                      errors={"claims": {"name": ["missing"]}})
    if claims.id_number:
        try:
            number = normalize_id_number(claims.id_number)
        except ValueError:
            raise Invalid("The identity provider sent an invalid ID number.", "身份认证平台提供的身份证号码无效。",
                          errors={"claims": {"id_number": ["invalid"]}}) from None
        fields.update(id_number_hash=keyed_hash("id", number, keys=keys), id_number_masked=mask_id_number(number))
    if claims.phone:
        try:
            phone = normalize_phone(claims.phone)
        except ValueError:
            raise Invalid("The identity provider sent an invalid mobile number.", "身份认证平台提供的手机号码无效。",
                          errors={"claims": {"phone": ["invalid"]}}) from None
        fields.update(phone_encrypted=encrypt_phone(phone, keys=keys), phone_hash=keyed_hash("phone", phone, keys=keys),
                      phone_masked=mask_phone(phone))
    return fields


def find_by_id_number(session: Session, id_number: str, *, keys: DataKeys | None = None) -> list[Resident]:
    """Residents whose ID number is ``id_number`` (any provider); raises ValueError for an
    invalid number."""
    digest = keyed_hash("id", normalize_id_number(id_number), keys=keys)
    return list(session.scalars(sa.select(Resident).where(Resident.id_number_hash == digest).order_by(Resident.id)))


def find_by_phone(session: Session, phone: str, *, keys: DataKeys | None = None) -> list[Resident]:
    """Residents whose mobile number is ``phone``; raises ValueError for an invalid number."""
    digest = keyed_hash("phone", normalize_phone(phone), keys=keys)
    return list(session.scalars(sa.select(Resident).where(Resident.phone_hash == digest).order_by(Resident.id)))
