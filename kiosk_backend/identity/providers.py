"""Identity providers: who vouches for a resident, behind one interface.

- ``oidc``: the province's unified identity platform (统一身份认证平台) issues OpenID
  Connect ID tokens to the mini-app. :class:`OIDCProvider` verifies them with PyJWT:
  issuer, audience, expiry and not-before with a small leeway, a signature by a key of the
  platform's JWKS (URL, fetched with a timeout and cached; or a file). Only RS256 and ES256
  are accepted; ``none`` and the HMAC algorithms are refused before any key is looked at
  (an HS256 token "signed" with the platform's public key is the classic forgery).
- ``demo``: a tester picks one of a few fictional residents (identity/data); on only in
  demo mode (KIOSK_DEMO) or in tests.

Settings (config.py): KIOSK_IDENTITY_PROVIDERS, KIOSK_OIDC_ISSUER, KIOSK_OIDC_AUDIENCE,
KIOSK_OIDC_JWKS_URL or KIOSK_OIDC_JWKS_FILE, KIOSK_OIDC_LEEWAY_SECONDS,
KIOSK_OIDC_ID_NUMBER_CLAIM.
"""
from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import jwt

from ..core.errors import DomainError, Invalid, Unauthorized

log = logging.getLogger(__name__)
DATA = Path(__file__).resolve().parent / "data"
ACCEPTED_ALGORITHMS = ("RS256", "ES256")
_KEY_TYPES = {"RS256": "RSA", "ES256": "EC"}
CHALLENGE = {"WWW-Authenticate": 'Resident realm="kiosk-backend"'}


@dataclass(frozen=True, slots=True)
class Claims:
    """What a provider says about the person. The ID number and phone never appear in a
    ``repr`` (and so in no log line or traceback that prints one)."""

    subject: str
    name: str
    id_number: str | None = field(default=None, repr=False)
    phone: str | None = field(default=None, repr=False)


class TokenRefused(Unauthorized):
    """An ID token (or demo choice) that does not prove who the person is: 401."""

    def __init__(self, reason: str, message: str, message_zh: str):
        super().__init__(message, message_zh, errors={"id_token": [reason]}, headers=dict(CHALLENGE))
        self.reason = reason


class ProviderUnavailable(DomainError):
    """The provider could not be asked (its key set unreachable): 503, try again."""

    status_code = 503

    def __init__(self, message: str, message_zh: str):
        super().__init__(message, message_zh, headers={"Retry-After": "5"})


class IdentityProvider(Protocol):
    name: str

    def verify(self, token: str) -> Claims:
        """The claims ``token`` proves; raises TokenRefused (or ProviderUnavailable)."""
        ...


# ---------------------------------------------------------------- OIDC

class OIDCProvider:
    """Verifies the identity platform's ID tokens (see the module's docstring)."""

    name = "oidc"

    def __init__(self, *, issuer: str, audience: str, jwks_url: str | None = None, jwks_file: str | None = None,
                 leeway: int = 30, timeout: float = 5.0, id_number_claim: str = "id_number",
                 cache_seconds: int = 300):
        if not issuer or not audience:
            raise ValueError("OIDC needs KIOSK_OIDC_ISSUER and KIOSK_OIDC_AUDIENCE")
        if bool(jwks_url) == bool(jwks_file):
            raise ValueError("OIDC needs exactly one of KIOSK_OIDC_JWKS_URL and KIOSK_OIDC_JWKS_FILE")
        self.issuer, self.audience, self.leeway = issuer, audience, leeway
        self.id_number_claim = id_number_claim
        self._client = jwt.PyJWKClient(jwks_url, cache_keys=True, max_cached_keys=16, cache_jwk_set=True,
                                       lifespan=cache_seconds, timeout=timeout) if jwks_url else None
        self._keys = _key_set_from_file(jwks_file) if jwks_file else None

    def verify(self, token: str) -> Claims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise _refused("malformed", "The ID token is not a well-formed JWT.", "身份令牌格式不正确。") from None
        algorithm = header.get("alg")
        if algorithm not in ACCEPTED_ALGORITHMS:
            raise _refused("algorithm", f"ID tokens signed with {algorithm!r} are not accepted (RS256 or ES256 only).",
                           f"不接受以 {algorithm!r} 签名的身份令牌（仅限 RS256 或 ES256）。")
        key = self._signing_key(header.get("kid"), algorithm)
        try:
            payload = jwt.decode(token, key=key.key, algorithms=[algorithm], audience=self.audience, issuer=self.issuer,
                                 leeway=self.leeway, options={"require": ["exp", "iat", "iss", "aud", "sub"]})
        except jwt.ExpiredSignatureError:
            raise _refused("expired", "The ID token has expired.", "身份令牌已过期。") from None
        except jwt.ImmatureSignatureError:
            raise _refused("not_yet_valid", "The ID token is not valid yet.", "身份令牌尚未生效。") from None
        except jwt.InvalidIssuerError:
            raise _refused("issuer", "The ID token was issued by someone else.", "身份令牌的签发方不正确。") from None
        except jwt.InvalidAudienceError:
            raise _refused("audience", "The ID token is meant for another application.",
                           "身份令牌不是签发给本应用的。") from None
        except jwt.MissingRequiredClaimError as exc:
            raise _refused("claims", f"The ID token lacks the claim {exc.claim!r}.",
                           f"身份令牌缺少声明 {exc.claim!r}。") from None
        except (jwt.InvalidSignatureError, jwt.InvalidKeyError, jwt.InvalidAlgorithmError):
            raise _refused("signature", "The ID token's signature is not valid.", "身份令牌的签名无效。") from None
        except jwt.InvalidTokenError:
            raise _refused("invalid", "The ID token is not valid.", "身份令牌无效。") from None
        subject, name = payload.get("sub"), payload.get("name")
        if not isinstance(subject, str) or not subject or len(subject) > 255:
            raise _refused("claims", "The ID token's subject is not usable.", "身份令牌的用户标识无效。")
        if not isinstance(name, str) or not name.strip():
            raise _refused("claims", "The ID token lacks the person's name.", "身份令牌缺少姓名。")
        id_number, phone = payload.get(self.id_number_claim), payload.get("phone_number")
        return Claims(subject=subject, name=name, id_number=id_number if isinstance(id_number, str) else None,
                      phone=phone if isinstance(phone, str) else None)

    def _signing_key(self, kid: Any, algorithm: str) -> jwt.PyJWK:
        if not isinstance(kid, str) or not kid:
            raise _refused("unknown_key", "The ID token names no signing key (kid).", "身份令牌未指明签名密钥。")
        if self._client is not None:
            try:
                key = self._client.get_signing_key(kid)
            except jwt.PyJWKClientConnectionError:
                log.warning("JWKS of %s unreachable", self.issuer, exc_info=True)
                raise _keys_unavailable() from None
            except jwt.PyJWKClientError:
                key = None  # fetched, and no key has this kid
            except (jwt.PyJWTError, ValueError):  # not a key set (an HTML error page, bad JSON)
                log.warning("JWKS of %s unusable", self.issuer, exc_info=True)
                raise _keys_unavailable() from None
        else:
            key = next((candidate for candidate in self._keys if candidate.key_id == kid), None)
        if key is None:
            raise _refused("unknown_key", "The ID token is signed with an unknown key.", "身份令牌的签名密钥未知。")
        if key.key_type != _KEY_TYPES[algorithm] or key.algorithm_name != algorithm:
            raise _refused("signature", "The ID token's algorithm does not match its key.", "身份令牌的算法与密钥不符。")
        return key


def _keys_unavailable() -> ProviderUnavailable:
    return ProviderUnavailable("The identity platform's signing keys cannot be fetched now.",
                               "暂时无法获取身份认证平台的签名密钥，请稍后再试。")


def _key_set_from_file(path: str) -> list[jwt.PyJWK]:
    """The usable signing keys of a JWKS file (keys of other types are skipped)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    keys = []
    for entry in data.get("keys", []):
        if entry.get("use", "sig") != "sig" or entry.get("kty") not in ("RSA", "EC"):
            continue
        try:
            keys.append(jwt.PyJWK(entry))
        except jwt.PyJWTError:
            continue  # a curve or algorithm we never accept
    return keys


def _refused(reason: str, message: str, message_zh: str) -> TokenRefused:
    return TokenRefused(reason, message, message_zh)


# ---------------------------------------------------------------- demo

@lru_cache(maxsize=1)
def demo_residents() -> tuple[Claims, ...]:
    """The fictional residents the demo provider offers (identity/data/demo_residents.json)."""
    data = json.loads((DATA / "demo_residents.json").read_text(encoding="utf-8"))
    return tuple(Claims(subject=entry["subject"], name=entry["name"], id_number=entry["id_number"],
                        phone=entry["phone"]) for entry in data["residents"])


class DemoProvider:
    """Picks a demo resident by subject (``demo-1`` …): the "token" is the subject."""

    name = "demo"

    def verify(self, token: str) -> Claims:
        for claims in demo_residents():
            if claims.subject == token:
                return claims
        raise _refused("unknown_resident", "There is no such demo resident.", "没有这位演示用户。")


# ---------------------------------------------------------------- choosing

NAMES = ("oidc", "demo")
_OIDC_CACHE: dict[tuple, OIDCProvider] = {}
_OIDC_LOCK = threading.Lock()


def demo_allowed(config: Mapping[str, Any]) -> bool:
    return bool(config.get("KIOSK_DEMO") or config.get("TESTING"))


def oidc_configured(config: Mapping[str, Any]) -> bool:
    return bool(config.get("KIOSK_OIDC_ISSUER") and config.get("KIOSK_OIDC_AUDIENCE")
                and (config.get("KIOSK_OIDC_JWKS_URL") or config.get("KIOSK_OIDC_JWKS_FILE")))


def enabled(config: Mapping[str, Any]) -> list[str]:
    """The providers residents may log in with, in the order offered: KIOSK_IDENTITY_PROVIDERS
    (comma-separated) or by default ``oidc`` and ``demo``. ``oidc`` only when its settings are
    complete (production refuses to start otherwise: config.check_production_config);
    ``demo`` only in the demo and tests, whatever the setting says."""
    setting = config.get("KIOSK_IDENTITY_PROVIDERS") or ""
    names = [name.strip() for name in setting.split(",") if name.strip()] if setting else list(NAMES)
    return [name for name in names if (name == "oidc" and oidc_configured(config))
            or (name == "demo" and demo_allowed(config))]


def provider_for(app_config: Mapping[str, Any], name: str) -> IdentityProvider:
    """The provider ``name`` as configured; raises Invalid (422, naming ``provider``) for a
    provider that is unknown or not enabled here."""
    if name not in enabled(app_config):
        raise Invalid(f"Invalid input. provider: {name!r} is not available here.",
                      f"输入有误。字段 provider：此处不提供 {name!r} 登录方式。",
                      errors={"json": {"provider": ["Not available here. / 此处不提供此登录方式。"]}})
    if name == "demo":
        return DemoProvider()
    settings = (app_config.get("KIOSK_OIDC_ISSUER"), app_config.get("KIOSK_OIDC_AUDIENCE"),
                app_config.get("KIOSK_OIDC_JWKS_URL") or None, app_config.get("KIOSK_OIDC_JWKS_FILE") or None,
                int(app_config.get("KIOSK_OIDC_LEEWAY_SECONDS", 30)),
                app_config.get("KIOSK_OIDC_ID_NUMBER_CLAIM") or "id_number")
    with _OIDC_LOCK:  # one client per configuration: its key cache outlives the request
        provider = _OIDC_CACHE.get(settings)
        if provider is None:
            issuer, audience, url, path, leeway, claim = settings
            try:
                provider = OIDCProvider(issuer=issuer, audience=audience, jwks_url=url, jwks_file=path,
                                        leeway=leeway, id_number_claim=claim)
            except (OSError, ValueError):  # an unreadable JWKS file: not the resident's fault
                log.error("KIOSK_OIDC_JWKS_FILE %s cannot be read as a key set", path, exc_info=True)
                raise _keys_unavailable() from None
            _OIDC_CACHE[settings] = provider
    return provider
