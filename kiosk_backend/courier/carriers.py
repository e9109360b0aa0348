"""Which carrier, and its account: :func:`gateway_for` gives the configured
:class:`~.gateway.CourierGateway`; the carrier-account services keep each carrier's
credentials sealed (identity.residents.seal, bound to the column) and rotatable.

Carriers: ``demo`` (:mod:`.demo_carrier`, no credentials; setting ``step_minutes``) and
``kuaidi100`` (:mod:`.kuaidi100`; credentials ``key``, ``customer``, ``secret`` and ``salt`` —
the salt is ours to choose, generated when not given; settings ``callback_url`` (default:
KIOSK_PUBLIC_URL + /api/v1/courier/callbacks/kuaidi100), ``company`` (the express company
code, default ``ems``) and ``service_type``).

Credentials never leave this module in clear except into an adapter: views get
:func:`account_view` (each value masked to its last four characters), audit entries name
the credentials that changed, never their values. Rotating 快递100's salt keeps the previous
ones (``previous_salts``, the last :data:`KEEP_PREVIOUS_SALTS`): 快递100 signs an order's pushes
with the salt it was placed with, for as long as the parcel travels.

Settings (config.py): KIOSK_COURIER_CARRIER (demo), KIOSK_DEMO_CARRIER_STEP_MINUTES (2),
KIOSK_KUAIDI100_ENDPOINT (https://poll.kuaidi100.com), KIOSK_KUAIDI100_TIMEOUT_SECONDS (10).
Tests may put a gateway in ``app.extensions["courier_gateway"]``: a gateway (used for its own
name), a dict of them by name, or a callable ``(session, name) -> gateway``.
"""
from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy.orm import Session

from ..core import audit
from ..core.actors import Actor
from ..core.clock import utcnow
from ..core.errors import Invalid, NotFound
from ..core.gateways import Clock, HttpTransport
from ..identity.residents import seal, unseal
from . import demo_carrier, kuaidi100
from .gateway import EVERYTHING, Capabilities, CarrierRejected, CourierGateway, OrderResult
from .models import Booking, CarrierAccount

CARRIERS = ("demo", "kuaidi100")
CREDENTIALS_PURPOSE = b"courier_carrier_account.credentials"
REQUIRED_CREDENTIALS = {"demo": (), "kuaidi100": ("key", "customer", "secret", "salt")}
GENERATED_CREDENTIALS = {"kuaidi100": {"salt": lambda: secrets.token_hex(16)}}  # "32位自定义字符串"
KEEP_PREVIOUS_SALTS = 3
MAX_CREDENTIAL_CHARS = 200
CALLBACK_PATH = "/api/v1/courier/callbacks/{carrier}"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class CarrierAccountNotFound(NotFound):
    def __init__(self, carrier: str):
        super().__init__(f"No account for carrier {carrier}.", f"没有承运商 {carrier} 的账户。")


# ------------------------------------------------------------------ the gateway

def gateway_for(session: Session, name: str | None = None, *, now: Clock = utcnow,
                transport: HttpTransport | None = None) -> CourierGateway:
    """The gateway of carrier ``name`` (default: KIOSK_COURIER_CARRIER, else ``demo``).
    Raises CarrierRejected: ``unknown_carrier``, ``not_configured`` (no active account or
    settings that cannot work)."""
    config = current_app.config if has_app_context() else {}
    name = (name or config.get("KIOSK_COURIER_CARRIER") or demo_carrier.NAME).strip()
    override = current_app.extensions.get("courier_gateway") if has_app_context() else None
    if override is not None:
        chosen = _overridden(override, session, name)
        if chosen is not None:
            return chosen
    if name == demo_carrier.NAME:
        account = get_account(session, name)
        step = (account.settings or {}).get("step_minutes") if account is not None else None
        step = step or config.get("KIOSK_DEMO_CARRIER_STEP_MINUTES") or demo_carrier.DEFAULT_STEP_MINUTES
        return demo_carrier.DemoCarrier(ledger=demo_carrier.BookingLedger(session), step_minutes=float(step), now=now)
    if name == kuaidi100.NAME:
        account = get_account(session, name)
        if account is None or not account.active:
            raise CarrierRejected("no active 快递100 account: add one in the console (carrier accounts)",
                                  code="not_configured")
        settings = account.settings or {}
        callback = settings.get("callback_url") or _public_callback(config, name)
        if not callback:
            raise CarrierRejected("the 快递100 account has no callback_url and KIOSK_PUBLIC_URL is not set",
                                  code="not_configured")
        timeout = float(config.get("KIOSK_KUAIDI100_TIMEOUT_SECONDS") or 10)
        return kuaidi100.Kuaidi100Gateway(
            credentials=kuaidi100.Kuaidi100Credentials.from_mapping(credentials_of(account)),
            callback_url=callback, company=settings.get("company") or kuaidi100.DEFAULT_COMPANY,
            service_type=settings.get("service_type") or None,
            endpoint=config.get("KIOSK_KUAIDI100_ENDPOINT") or kuaidi100.ENDPOINT, timeout=timeout,
            transport=transport, now=now, known_order=lambda order_no: known_order(session, name, order_no))
    raise CarrierRejected(f"unknown carrier {name!r}", code="unknown_carrier")


ADAPTERS = {demo_carrier.NAME: demo_carrier.DemoCarrier, kuaidi100.NAME: kuaidi100.Kuaidi100Gateway}


def capabilities_of(name: str | None = None) -> Capabilities:
    """What carrier ``name`` (default: the configured one) can do, as its adapter declares it
    (no account or credentials needed); a gateway the composition set for that name (tests,
    the demo) answers for itself if it declares capabilities."""
    config = current_app.config if has_app_context() else {}
    name = (name or config.get("KIOSK_COURIER_CARRIER") or demo_carrier.NAME).strip()
    override = current_app.extensions.get("courier_gateway") if has_app_context() else None
    if override is not None and (isinstance(override, Mapping) or hasattr(override, "create_order")):
        chosen = _overridden(override, None, name)  # type: ignore[arg-type]
        declared = getattr(chosen, "capabilities", None)
        if isinstance(declared, Capabilities):
            return declared
    adapter = ADAPTERS.get(name)
    return adapter.capabilities if adapter is not None else EVERYTHING


def _overridden(override: Any, session: Session, name: str) -> CourierGateway | None:
    if isinstance(override, Mapping):
        return override.get(name)
    if hasattr(override, "create_order"):
        return override if getattr(override, "name", name) == name else None
    return override(session, name)


def known_order(session: Session, carrier: str, order_no: str) -> OrderResult | None:
    """Our record of an order placed at ``carrier``: the booking's task id and waybill, if stored."""
    booking = session.scalars(sa.select(Booking).where(Booking.order_no == order_no,
                                                       Booking.carrier == carrier)).first()
    if booking is None or not booking.carrier_task_id:
        return None
    return OrderResult(order_no=order_no, task_id=booking.carrier_task_id, waybill_no=booking.waybill_no,
                       company=booking.carrier_company)


def _public_callback(config: Mapping[str, Any], carrier: str) -> str | None:
    public = str(config.get("KIOSK_PUBLIC_URL") or "").strip().rstrip("/")
    return public + CALLBACK_PATH.format(carrier=carrier) if public else None


# ------------------------------------------------------------------ accounts

def get_account(session: Session, carrier: str) -> CarrierAccount | None:
    return session.scalars(sa.select(CarrierAccount).where(CarrierAccount.carrier == carrier)).first()


def list_accounts(session: Session) -> list[CarrierAccount]:
    return list(session.scalars(sa.select(CarrierAccount).order_by(CarrierAccount.carrier)))


def credentials_of(account: CarrierAccount) -> dict[str, Any]:
    """The account's credentials in clear (for an adapter only)."""
    return json.loads(unseal(account.credentials_encrypted, purpose=CREDENTIALS_PURPOSE))


def save_account(session: Session, carrier: str, credentials: Mapping[str, Any], settings: Mapping[str, Any], *,
                 actor: Actor, now: Clock = utcnow) -> CarrierAccount:
    """Create or change the account of ``carrier``. Credentials left empty keep their stored
    values (settings can change without retyping secrets); a missing 快递100 salt is
    generated. Settings are replaced. Raises Invalid naming the field."""
    _known_carrier(carrier)
    account = get_account(session, carrier)
    stored = credentials_of(account) if account is not None else {}
    given = _clean_credentials(carrier, credentials)
    merged = {**stored, **given}
    for name, make in GENERATED_CREDENTIALS.get(carrier, {}).items():
        merged.setdefault(name, make())
    missing = [name for name in REQUIRED_CREDENTIALS[carrier] if not merged.get(name)]
    if missing:
        raise Invalid(f"Missing credentials: {', '.join(missing)}.", f"缺少凭据：{'、'.join(missing)}。",
                      errors={"credentials": {name: ["Required / 必填"] for name in missing}})
    clean_settings = _clean_settings(carrier, settings)
    created = account is None
    if created:
        account = CarrierAccount(carrier=carrier, created_at=now())
        session.add(account)
    account.credentials_encrypted = _seal(merged)
    account.settings = clean_settings
    account.updated_by = actor.label[:100]
    account.updated_at = now()
    session.flush()
    changed = sorted(name for name in merged if merged.get(name) != stored.get(name))
    audit.record(session, actor=actor, action="courier.carrier_account." + ("create" if created else "save"),
                 target=f"carrier:{carrier}", details={"credentials_changed": changed, "settings": clean_settings},
                 now=now)
    return account


def rotate_account(session: Session, carrier: str, credentials: Mapping[str, Any], *, actor: Actor,
                   now: Clock = utcnow) -> CarrierAccount:
    """New values for some credentials (a new 快递100 salt is generated when ``salt`` is given
    empty); the previous salts keep verifying pushes. Sets ``rotated_at``. Raises
    CarrierAccountNotFound, Invalid."""
    _known_carrier(carrier)
    account = get_account(session, carrier)
    if account is None:
        raise CarrierAccountNotFound(carrier)
    stored = credentials_of(account)
    given = _clean_credentials(carrier, credentials)
    for name, make in GENERATED_CREDENTIALS.get(carrier, {}).items():
        if name in credentials and not given.get(name):
            given[name] = make()
    if not given:
        raise Invalid("Give at least one new credential.", "请至少填写一项新凭据。",
                      errors={"credentials": {"_schema": ["Nothing to rotate / 没有要更换的凭据"]}})
    merged = {**stored, **given}
    if "salt" in given and stored.get("salt") and stored["salt"] != given["salt"]:
        previous = [stored["salt"], *stored.get("previous_salts", [])]
        merged["previous_salts"] = previous[:KEEP_PREVIOUS_SALTS]
    account.credentials_encrypted = _seal(merged)
    account.rotated_at = now()
    account.updated_at = now()
    account.updated_by = actor.label[:100]
    session.flush()
    audit.record(session, actor=actor, action="courier.carrier_account.rotate", target=f"carrier:{carrier}",
                 details={"credentials_rotated": sorted(given)}, now=now)
    return account


def set_active(session: Session, carrier: str, active: bool, *, actor: Actor, now: Clock = utcnow) -> CarrierAccount:
    """Switch an account on or off (an inactive 快递100 account places nothing). Raises
    CarrierAccountNotFound."""
    account = get_account(session, carrier)
    if account is None:
        raise CarrierAccountNotFound(carrier)
    if account.active != active:
        account.active = active
        account.updated_at = now()
        account.updated_by = actor.label[:100]
        session.flush()
        audit.record(session, actor=actor, action="courier.carrier_account." + ("enable" if active else "disable"),
                     target=f"carrier:{carrier}", now=now)
    return account


def account_view(account: CarrierAccount) -> dict[str, Any]:
    """What the console shows: settings, and each credential masked to its last four
    characters ("…ab12"); previous salts counted, not shown."""
    credentials = credentials_of(account)
    previous = credentials.pop("previous_salts", [])
    return {"carrier": account.carrier, "active": account.active, "settings": dict(account.settings or {}),
            "credentials": {name: mask(str(value)) for name, value in sorted(credentials.items())},
            "previous_salts": len(previous), "rotated_at": account.rotated_at, "updated_at": account.updated_at,
            "created_at": account.created_at, "updated_by": account.updated_by}


def mask(value: str) -> str:
    return "…" + value[-4:] if len(value) >= 8 else "…"


# ------------------------------------------------------------------ validation

def _known_carrier(carrier: str) -> None:
    if carrier not in CARRIERS:
        raise Invalid(f"Unknown carrier {carrier!r}.", f"未知的承运商 {carrier!r}。",
                      errors={"carrier": [f"One of {', '.join(CARRIERS)} / 应为 {'、'.join(CARRIERS)} 之一"]})


def _clean_credentials(carrier: str, credentials: Mapping[str, Any]) -> dict[str, str]:
    allowed = REQUIRED_CREDENTIALS[carrier]
    unknown = sorted(set(credentials) - set(allowed))
    if unknown:
        raise Invalid(f"Unknown credentials for {carrier}: {', '.join(unknown)}.",
                      f"{carrier} 没有这些凭据：{'、'.join(unknown)}。",
                      errors={"credentials": {name: ["Unknown / 未知"] for name in unknown}})
    clean = {}
    for name in allowed:
        value = credentials.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        text = str(value).strip()
        if len(text) > MAX_CREDENTIAL_CHARS or any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
            raise Invalid(f"The credential {name} is not valid.", f"凭据 {name} 不合规。",
                          errors={"credentials": {name: [f"One line, at most {MAX_CREDENTIAL_CHARS} characters / "
                                                         f"单行，最多 {MAX_CREDENTIAL_CHARS} 个字符"]}})
        clean[name] = text
    return clean


def _clean_settings(carrier: str, settings: Mapping[str, Any]) -> dict[str, Any]:
    settings = dict(settings or {})
    if carrier == demo_carrier.NAME:
        allowed = {"step_minutes"}
        _no_unknown(settings, allowed)
        clean: dict[str, Any] = {}
        if settings.get("step_minutes") not in (None, ""):
            try:
                step = float(settings["step_minutes"])
            except (TypeError, ValueError):
                step = 0
            if not 0.1 <= step <= 1440:
                raise Invalid("step_minutes must be between 0.1 and 1440.", "step_minutes 应在 0.1 到 1440 之间。",
                              errors={"settings": {"step_minutes": ["0.1–1440"]}})
            clean["step_minutes"] = step
        return clean
    _no_unknown(settings, {"callback_url", "company", "service_type"})
    clean = {}
    callback = str(settings.get("callback_url") or "").strip()
    if callback:
        parts = urlsplit(callback)
        if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment or (
                parts.scheme == "http" and parts.hostname not in LOOPBACK) or len(callback) > 120:
            raise Invalid("callback_url must be the https URL of /api/v1/courier/callbacks/kuaidi100 (at most 120 "
                          "characters).", "callback_url 应为 /api/v1/courier/callbacks/kuaidi100 的 https 地址（最多 120 个字符）。",
                          errors={"settings": {"callback_url": ["https URL / https 地址"]}})
        clean["callback_url"] = callback
    company = str(settings.get("company") or "").strip()
    if company:
        if not company.isascii() or not company.replace("_", "").isalnum() or company != company.lower() \
                or len(company) > 32:
            raise Invalid("company is 快递100's company code in lower case (ems, youzhengguonei).",
                          "company 应为快递100的快递公司编码（小写，如 ems、youzhengguonei）。",
                          errors={"settings": {"company": ["Lower-case code / 小写编码"]}})
        clean["company"] = company
    service_type = str(settings.get("service_type") or "").strip()
    if service_type:
        clean["service_type"] = service_type[:32]
    return clean


def _no_unknown(settings: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(settings) - allowed)
    if unknown:
        raise Invalid(f"Unknown settings: {', '.join(unknown)}.", f"未知的设置：{'、'.join(unknown)}。",
                      errors={"settings": {name: ["Unknown / 未知"] for name in unknown}})


def _seal(credentials: Mapping[str, Any]) -> str:
    return seal(json.dumps(dict(credentials), ensure_ascii=False, sort_keys=True), purpose=CREDENTIALS_PURPOSE)
