from __future__ import annotations

import stat

import pytest

from kiosk_backend.config import load_config, normalize_database_url


@pytest.mark.parametrize("given,expected", [
    ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
    ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
    ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
    ("sqlite:///x.db", "sqlite:///x.db"),
])
def test_database_urls_are_pinned_to_psycopg3(given, expected):
    assert normalize_database_url(given) == expected


def test_the_embedded_default_is_sqlite_under_instance(tmp_path):
    cfg = load_config(tmp_path / "instance", environ={})
    assert cfg["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'instance' / 'kiosk.db'}"


def test_a_generated_secret_key_is_kept_private_and_reused(tmp_path):
    first = load_config(tmp_path, environ={})["SECRET_KEY"]
    assert len(first) >= 64
    assert load_config(tmp_path, environ={})["SECRET_KEY"] == first
    assert stat.S_IMODE((tmp_path / "secret_key").stat().st_mode) == 0o600


def test_environment_variables_configure_the_service(tmp_path):
    cfg = load_config(tmp_path, environ={"KIOSK_DATABASE_URL": "postgresql://a@b/c", "KIOSK_SECRET_KEY": "s",
                                         "KIOSK_IDLE_SECONDS": "90", "KIOSK_MAX_UPLOAD_MB": "2"})
    assert cfg["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://a@b/c"
    assert cfg["SECRET_KEY"] == "s" and cfg["KIOSK_IDLE_SECONDS"] == 90 and cfg["MAX_CONTENT_LENGTH"] == 2 * 1024 * 1024
    assert not (tmp_path / "secret_key").exists()


def test_explicit_overrides_win(tmp_path):
    cfg = load_config(tmp_path, {"DATABASE_URL": "sqlite:///o.db", "KIOSK_IDLE_SECONDS": 5}, environ={"KIOSK_IDLE_SECONDS": "90"})
    assert cfg["SQLALCHEMY_DATABASE_URI"] == "sqlite:///o.db" and cfg["KIOSK_IDLE_SECONDS"] == 5


def test_database_timeouts_come_from_the_environment(tmp_path):
    cfg = load_config(tmp_path, environ={"KIOSK_DATABASE_URL": "postgresql://a@b/c", "KIOSK_SECRET_KEY": "s",
                                         "KIOSK_DB_CONNECT_TIMEOUT": "3", "KIOSK_DB_STATEMENT_TIMEOUT_MS": "2500",
                                         "KIOSK_DB_POOL_TIMEOUT": "7"})
    assert cfg["SQLALCHEMY_ENGINE_OPTIONS"] == {
        "pool_pre_ping": True, "pool_timeout": 7,
        "connect_args": {"connect_timeout": 3, "options": "-c statement_timeout=2500"}}


def test_database_timeouts_default_to_seconds_not_minutes(tmp_path):
    options = load_config(tmp_path, environ={"KIOSK_DATABASE_URL": "postgresql://a@b/c",
                                             "KIOSK_SECRET_KEY": "s"})["SQLALCHEMY_ENGINE_OPTIONS"]
    assert options["pool_timeout"] == 5
    assert options["connect_args"] == {"connect_timeout": 5, "options": "-c statement_timeout=15000"}


def test_the_statement_timeout_keeps_the_urls_own_options(tmp_path):
    url = "postgresql://a@b/c?options=-csearch_path%3Dt_1"
    options = load_config(tmp_path, {"DATABASE_URL": url, "KIOSK_DB_STATEMENT_TIMEOUT_MS": 200},
                          environ={"KIOSK_SECRET_KEY": "s"})["SQLALCHEMY_ENGINE_OPTIONS"]
    assert options["connect_args"]["options"] == "-csearch_path=t_1 -c statement_timeout=200"


def test_sqlite_gets_a_pool_timeout_but_no_connect_args(tmp_path):
    options = load_config(tmp_path, {"DATABASE_URL": "sqlite:///x.db"}, environ={})["SQLALCHEMY_ENGINE_OPTIONS"]
    assert options == {"pool_pre_ping": True, "pool_timeout": 5}
    in_memory = load_config(tmp_path, {"DATABASE_URL": "sqlite://"}, environ={})["SQLALCHEMY_ENGINE_OPTIONS"]
    assert in_memory == {"pool_pre_ping": True}  # a StaticPool has no timeout


def test_production_needs_a_public_url_for_qr_codes_but_the_demo_and_tests_do_not():
    from kiosk_backend.config import ConfigError, check_production_config

    with pytest.raises(ConfigError, match="KIOSK_PUBLIC_URL is not set"):
        check_production_config({"KIOSK_PUBLIC_URL": ""})
    with pytest.raises(ConfigError, match="http:// or https://"):
        check_production_config({"KIOSK_PUBLIC_URL": "zwfw.example.gov.cn"})
    check_production_config({"KIOSK_PUBLIC_URL": "https://zwfw.example.gov.cn", "KIOSK_DATA_KEY": "k" * 32})
    check_production_config({"KIOSK_PUBLIC_URL": "", "KIOSK_DEMO": True})
    check_production_config({"KIOSK_PUBLIC_URL": "", "TESTING": True})


def test_the_wsgi_entry_point_refuses_to_start_without_a_public_url(tmp_path):
    import os
    import subprocess
    import sys

    env = {key: value for key, value in os.environ.items() if not key.startswith("KIOSK_")}
    env.update(KIOSK_INSTANCE_PATH=str(tmp_path), KIOSK_DATABASE_URL=f"sqlite:///{tmp_path / 'k.db'}",
               KIOSK_SECRET_KEY="x", KIOSK_LOG_LEVEL="WARNING")
    refused = subprocess.run([sys.executable, "-c", "import kiosk_backend.wsgi"], env=env, capture_output=True,
                             text=True, timeout=120)
    assert refused.returncode != 0 and "KIOSK_PUBLIC_URL is not set" in refused.stderr
    env["KIOSK_PUBLIC_URL"] = "https://zwfw.example.gov.cn"
    env["KIOSK_DATA_KEY"] = "k" * 32
    started = subprocess.run([sys.executable, "-c", "import kiosk_backend.wsgi"], env=env, capture_output=True,
                             text=True, timeout=120)
    assert started.returncode == 0, started.stderr[-2000:]


def test_production_needs_a_data_key_for_residents_and_complete_oidc_settings():
    from kiosk_backend.config import ConfigError, check_production_config

    public = {"KIOSK_PUBLIC_URL": "https://zwfw.example.gov.cn"}
    with pytest.raises(ConfigError, match="KIOSK_DATA_KEY"):
        check_production_config(public)
    with pytest.raises(ConfigError, match="KIOSK_DATA_KEY"):
        check_production_config({**public, "KIOSK_DATA_KEY": "short"})
    keyed = {**public, "KIOSK_DATA_KEY": "k" * 32}
    with pytest.raises(ConfigError, match="KIOSK_OIDC_AUDIENCE, KIOSK_OIDC_JWKS_URL or KIOSK_OIDC_JWKS_FILE"):
        check_production_config({**keyed, "KIOSK_OIDC_ISSUER": "https://idp.example.gov.cn"})
    with pytest.raises(ConfigError, match="KIOSK_OIDC_ISSUER"):
        check_production_config({**keyed, "KIOSK_IDENTITY_PROVIDERS": "oidc"})
    check_production_config({**keyed, "KIOSK_OIDC_ISSUER": "https://idp.example.gov.cn", "KIOSK_OIDC_AUDIENCE": "kiosk",
                             "KIOSK_OIDC_JWKS_URL": "https://idp.example.gov.cn/jwks"})
