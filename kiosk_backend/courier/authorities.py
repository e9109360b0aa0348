"""The handling authorities' postal addresses (HandlingAuthority), registered once per
handling org (an application's ``handling_org`` + ``handling_region``) by admins, so that
the materials leg is prefilled and nobody retypes an office's address at a kiosk.

Functions flush and never commit; saves are audited (``courier.authority.*``). An
authority's address is an office's, not a person's: it is shown in full.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..core import audit
from ..core.actors import Actor
from ..core.errors import Conflict, Invalid, NotFound
from ..sites import divisions
from . import services
from .models import HandlingAuthority


class AuthorityNotFound(NotFound):
    def __init__(self) -> None:
        super().__init__("No such handling authority.", "没有找到该办理机关。")


@dataclass(frozen=True)
class AuthorityIn:
    """What the console's form (or the demo) gives; the form's schema checks shapes, this
    module the rules that need data (division codes, uniqueness)."""

    org_name: str
    region_code: str
    recipient_name: str
    phone: str
    province_code: str
    city_code: str
    county_code: str
    address: str
    postcode: str | None = None


def list_authorities(session: Session) -> list[HandlingAuthority]:
    return list(session.scalars(sa.select(HandlingAuthority)
                                .order_by(HandlingAuthority.region_code, HandlingAuthority.org_name)))


def get_authority(session: Session, authority_id: int) -> HandlingAuthority:
    found = session.get(HandlingAuthority, authority_id)
    if found is None:
        raise AuthorityNotFound()
    return found


def find(session: Session, org_name: str, region_code: str) -> HandlingAuthority | None:
    """The authority registered for a handling org, if any."""
    return session.scalar(sa.select(HandlingAuthority).where(HandlingAuthority.org_name == org_name,
                                                             HandlingAuthority.region_code == region_code))


def _check(data: AuthorityIn) -> AuthorityIn:
    """``data`` with its phone as bookings keep it; raises Invalid naming each bad field."""
    problems = divisions.validate_codes(data.province_code, data.city_code, data.county_code or None)
    if not data.county_code:
        problems.append(("county_code", "County code is required", "请选择区县"))
    phone = data.phone
    try:  # bookings take it as the authority's contact number: the same rule as theirs
        phone = services.normalize_contact(data.phone)
    except ValueError:
        problems.append(("phone", "An office line (0755-83358000) or a mobile number",
                         "应为单位固定电话（如 0755-83358000）或手机号码"))
    if problems:
        raise Invalid("; ".join(f"{f}: {en}" for f, en, _ in problems), "；".join(f"{f}：{zh}" for f, _, zh in problems),
                      errors={f: [f"{en} / {zh}"] for f, en, zh in problems})
    return replace(data, phone=phone)


def save_authority(session: Session, data: AuthorityIn, *, actor: Actor | str,
                   authority_id: int | None = None) -> HandlingAuthority:
    """Register a handling org's address, or change the one ``authority_id`` names.

    Raises AuthorityNotFound, Invalid (division codes that do not exist or do not nest),
    Conflict (the org is registered already for that region)."""
    data = _check(data)
    authority = get_authority(session, authority_id) if authority_id is not None else HandlingAuthority()
    before = _fields(authority) if authority_id is not None else None
    other = find(session, data.org_name, data.region_code)
    if other is not None and other is not authority:
        raise Conflict("This handling org is registered already for that region.", "该办理机关在此地区已登记。",
                       errors={"org_name": ["Registered already / 已登记"]})
    for field, value in asdict(data).items():
        setattr(authority, field, value or None if field == "postcode" else value)
    if authority_id is None:
        session.add(authority)
    session.flush()
    changed = {key: value for key, value in _fields(authority).items() if before is None or before[key] != value}
    if changed:
        audit.record(session, actor=actor, action="courier.authority." + ("create" if before is None else "update"),
                     target=f"authority:{authority.id}", details={"org_name": authority.org_name, **changed})
    return authority


def _fields(authority: HandlingAuthority) -> dict[str, str | None]:
    return {field: getattr(authority, field) for field in AuthorityIn.__dataclass_fields__}
