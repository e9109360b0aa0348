"""Identity providers: OIDC ID tokens verified (issuer, audience, time, signature, algorithm,
key) with keys made here, served as a JWKS file and over HTTP; the demo provider only in the
demo and tests."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from kiosk_backend.core.errors import Invalid
from kiosk_backend.identity import providers
from kiosk_backend.identity.providers import DemoProvider, OIDCProvider, ProviderUnavailable, TokenRefused

ISSUER = "https://idp.example.gov.cn"
AUDIENCE = "kiosk-miniapp"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())
OTHER_RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk_of(private_key, kid: str) -> dict:
    algorithm = jwt.algorithms.RSAAlgorithm if isinstance(private_key, rsa.RSAPrivateKey) else jwt.algorithms.ECAlgorithm
    return {**json.loads(algorithm.to_jwk(private_key.public_key())), "kid": kid, "use": "sig"}


JWKS = {"keys": [jwk_of(RSA_KEY, "rsa-1"), jwk_of(EC_KEY, "ec-1")]}


def claims(**overrides) -> dict:
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "u-42", "name": "张三", "iat": now, "exp": now + 300,
               "id_number": "11010519491231002X", "phone_number": "13800138000"}
    payload.update(overrides)
    return {key: value for key, value in payload.items() if value is not None}


def sign(payload: dict | None = None, *, key=RSA_KEY, algorithm: str = "RS256", kid: str = "rsa-1") -> str:
    return jwt.encode(payload or claims(), key, algorithm=algorithm, headers={"kid": kid})


@pytest.fixture
def jwks_file(tmp_path):
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps(JWKS))
    return str(path)


@pytest.fixture
def oidc(jwks_file):
    return OIDCProvider(issuer=ISSUER, audience=AUDIENCE, jwks_file=jwks_file, leeway=30)


def refusal(provider, token) -> str:
    with pytest.raises(TokenRefused) as caught:
        provider.verify(token)
    assert caught.value.status_code == 401 and caught.value.message and caught.value.message_zh
    return caught.value.reason


def test_rs256_and_es256_tokens_give_their_claims(oidc):
    for token in (sign(), sign(key=EC_KEY, algorithm="ES256", kid="ec-1")):
        got = oidc.verify(token)
        assert (got.subject, got.name, got.id_number, got.phone) == ("u-42", "张三", "11010519491231002X", "13800138000")


def test_the_id_number_claim_is_configurable(jwks_file):
    provider = OIDCProvider(issuer=ISSUER, audience=AUDIENCE, jwks_file=jwks_file, id_number_claim="idcard")
    assert provider.verify(sign(claims(idcard="440524188001010014"))).id_number == "440524188001010014"


# Made when the test runs (times are relative to now; the leeway is 30 s).
@pytest.mark.parametrize(("payload", "reason"), [
    (lambda: claims(iss="https://evil.example.com"), "issuer"),
    (lambda: claims(aud="another-app"), "audience"),
    (lambda: claims(exp=int(time.time()) - 31), "expired"),
    (lambda: claims(nbf=int(time.time()) + 60), "not_yet_valid"),
    (lambda: claims(exp=None), "claims"),
    (lambda: claims(sub=None), "claims"),
    (lambda: claims(name=None), "claims"),
])
def test_wrong_claims_are_refused(oidc, payload, reason):
    assert refusal(oidc, sign(payload())) == reason


def test_small_clock_skew_is_allowed(oidc):
    assert oidc.verify(sign(claims(exp=int(time.time()) - 10, nbf=int(time.time()) + 10))).subject == "u-42"


def test_a_bad_signature_is_refused(oidc):
    assert refusal(oidc, sign(key=OTHER_RSA_KEY)) == "signature"  # right kid, wrong key
    header, payload, signature = sign().split(".")
    forged = base64.urlsafe_b64encode(json.dumps(claims(sub="someone-else")).encode()).decode().rstrip("=")
    assert refusal(oidc, f"{header}.{forged}.{signature}") == "signature"


def _unsigned(alg: str, kid: str = "rsa-1") -> tuple[str, str]:
    def part(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    return part({"alg": alg, "typ": "JWT", "kid": kid}), part(claims())


def test_alg_none_is_refused(oidc):
    header, payload = _unsigned("none")
    assert refusal(oidc, f"{header}.{payload}.") == "algorithm"


def test_hs256_signed_with_the_public_key_is_refused(oidc):
    public_pem = RSA_KEY.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    header, payload = _unsigned("HS256")
    mac = hmac.new(public_pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    token = f"{header}.{payload}." + base64.urlsafe_b64encode(mac).decode().rstrip("=")
    assert refusal(oidc, token) == "algorithm"
    assert refusal(oidc, sign(key=RSA_KEY, algorithm="RS512")) == "algorithm"


def test_an_algorithm_that_does_not_match_the_key_is_refused(oidc):
    assert refusal(oidc, sign(key=EC_KEY, algorithm="ES256", kid="rsa-1")) == "signature"
    assert refusal(oidc, sign(key=RSA_KEY, algorithm="RS256", kid="ec-1")) == "signature"


def test_unknown_or_missing_kid_and_garbage_are_refused(oidc):
    assert refusal(oidc, sign(kid="rotated-away")) == "unknown_key"
    assert refusal(oidc, jwt.encode(claims(), RSA_KEY, algorithm="RS256")) == "unknown_key"
    assert refusal(oidc, "not-a-jwt") == "malformed"


def test_configuration_must_be_complete(jwks_file):
    with pytest.raises(ValueError):
        OIDCProvider(issuer="", audience=AUDIENCE, jwks_file=jwks_file)
    with pytest.raises(ValueError):
        OIDCProvider(issuer=ISSUER, audience=AUDIENCE)
    with pytest.raises(ValueError):
        OIDCProvider(issuer=ISSUER, audience=AUDIENCE, jwks_file=jwks_file, jwks_url="https://idp/jwks")


class _JwksServer:
    """A JWKS endpoint on 127.0.0.1 that counts its requests."""

    def __init__(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                server.hits += 1
                body = server.body or json.dumps(JWKS).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.hits = 0
        self.body: bytes | None = None
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def jwks_server():
    server = _JwksServer()
    yield server
    server.close()


def test_keys_from_a_jwks_url_are_fetched_once_and_cached(jwks_server):
    provider = OIDCProvider(issuer=ISSUER, audience=AUDIENCE, jwks_url=jwks_server.url, timeout=2)
    assert provider.verify(sign()).subject == "u-42"
    assert provider.verify(sign(key=EC_KEY, algorithm="ES256", kid="ec-1")).subject == "u-42"
    assert jwks_server.hits == 1
    assert refusal(provider, sign(key=OTHER_RSA_KEY)) == "signature"


def test_an_unreachable_jwks_url_is_a_503_not_a_refusal():
    provider = OIDCProvider(issuer=ISSUER, audience=AUDIENCE, jwks_url="http://127.0.0.1:9/jwks.json", timeout=1)
    with pytest.raises(ProviderUnavailable) as caught:
        provider.verify(sign())
    assert caught.value.status_code == 503


def test_the_demo_provider_knows_only_its_residents():
    assert DemoProvider().verify("demo-1").name == "张三"
    with pytest.raises(TokenRefused):
        DemoProvider().verify("demo-999")


def test_which_providers_are_on(jwks_file):
    oidc = {"KIOSK_OIDC_ISSUER": ISSUER, "KIOSK_OIDC_AUDIENCE": AUDIENCE, "KIOSK_OIDC_JWKS_FILE": jwks_file}
    assert providers.enabled({"TESTING": True}) == ["demo"]
    assert providers.enabled({"KIOSK_DEMO": True, **oidc}) == ["oidc", "demo"]
    assert providers.enabled({}) == []  # production without settings: nothing, and never demo
    assert providers.enabled({"KIOSK_IDENTITY_PROVIDERS": "demo,oidc", **oidc}) == ["oidc"]
    assert providers.enabled({"KIOSK_IDENTITY_PROVIDERS": "demo", "KIOSK_DEMO": True, **oidc}) == ["demo"]
    assert providers.enabled({"KIOSK_IDENTITY_PROVIDERS": "oidc", "KIOSK_OIDC_ISSUER": ISSUER}) == []  # incomplete
    with pytest.raises(Invalid):
        providers.provider_for({}, "demo")
    with pytest.raises(Invalid):
        providers.provider_for({"TESTING": True}, "saml")
    config = {"KIOSK_IDENTITY_PROVIDERS": "oidc", "KIOSK_OIDC_ISSUER": ISSUER, "KIOSK_OIDC_AUDIENCE": AUDIENCE,
              "KIOSK_OIDC_JWKS_FILE": jwks_file}
    provider = providers.provider_for(config, "oidc")
    assert provider is providers.provider_for(config, "oidc")  # one client (and key cache) per configuration
    assert provider.verify(sign()).subject == "u-42"


def test_an_unusable_key_set_is_a_503_not_a_500(tmp_path, jwks_server):
    broken = tmp_path / "broken.json"
    broken.write_text("<html>not json</html>")
    config = {"KIOSK_OIDC_ISSUER": ISSUER, "KIOSK_OIDC_AUDIENCE": AUDIENCE, "KIOSK_OIDC_JWKS_FILE": str(broken)}
    with pytest.raises(ProviderUnavailable):
        providers.provider_for(config, "oidc")
    jwks_server.body = b"<html>Bad gateway</html>"
    provider = OIDCProvider(issuer=ISSUER, audience=AUDIENCE, jwks_url=jwks_server.url, timeout=2)
    with pytest.raises(ProviderUnavailable):
        provider.verify(sign())
