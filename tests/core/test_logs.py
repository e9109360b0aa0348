"""Logging belongs to the entry points: building an app changes nothing, and
configure_logging() (the CLI and kiosk_backend.wsgi call it) follows KIOSK_LOG_LEVEL."""
from __future__ import annotations

import logging
import sys

import pytest

from kiosk_backend.core import logs


@pytest.fixture
def root():
    """The root logger, put back as it was afterwards (pytest's own handlers included)."""
    logger = logging.getLogger()
    handlers, level = logger.handlers[:], logger.level
    yield logger
    for handler in logger.handlers[:]:
        if handler not in handlers:
            logger.removeHandler(handler)
    logger.handlers[:] = handlers
    logger.setLevel(level)


def test_building_an_app_leaves_logging_alone(root, make_app):
    root.setLevel(logging.ERROR)
    handlers = root.handlers[:]
    package = logging.getLogger("kiosk_backend")
    package_state = (package.handlers[:], package.level, package.propagate)
    make_app()
    assert root.handlers == handlers and root.level == logging.ERROR
    assert (package.handlers, package.level, package.propagate) == package_state


def test_the_level_comes_from_kiosk_log_level(root, monkeypatch):
    root.handlers[:] = []  # as in a fresh process
    monkeypatch.setenv("KIOSK_LOG_LEVEL", "warning")
    logs.configure_logging()
    assert root.level == logging.WARNING
    [handler] = root.handlers
    assert isinstance(handler, logging.StreamHandler) and handler.stream is sys.stderr
    assert handler.formatter._fmt == logs.FORMAT


def test_the_default_level_is_info(root, monkeypatch):
    root.handlers[:] = []
    monkeypatch.delenv("KIOSK_LOG_LEVEL", raising=False)
    logs.configure_logging()
    assert root.level == logging.INFO


def test_an_explicit_level_wins_over_the_environment(root, monkeypatch):
    root.handlers[:] = []
    monkeypatch.setenv("KIOSK_LOG_LEVEL", "ERROR")
    logs.configure_logging("debug")
    assert root.level == logging.DEBUG


def test_an_unknown_level_falls_back_to_info(root, monkeypatch):
    for name in ("LOUD", "BASIC_FORMAT"):  # the second is an attribute of logging, not a level
        root.handlers[:] = []
        monkeypatch.setenv("KIOSK_LOG_LEVEL", name)
        logs.configure_logging()
        assert root.level == logging.INFO


def test_configuring_twice_adds_no_second_handler_but_takes_the_new_level(root, monkeypatch):
    root.handlers[:] = []
    monkeypatch.setenv("KIOSK_LOG_LEVEL", "INFO")
    logs.configure_logging()
    monkeypatch.setenv("KIOSK_LOG_LEVEL", "DEBUG")
    logs.configure_logging()
    assert len(root.handlers) == 1 and root.level == logging.DEBUG


def test_the_level_applies_when_a_handler_is_already_installed(root, monkeypatch):
    """A server or host application may have given the root logger a handler first
    (gunicorn --log-config, pytest): KIOSK_LOG_LEVEL still sets the level, and their
    handler is kept instead of adding ours."""
    theirs = logging.NullHandler()
    root.handlers[:] = [theirs]
    root.setLevel(logging.WARNING)
    monkeypatch.setenv("KIOSK_LOG_LEVEL", "DEBUG")
    logs.configure_logging()
    assert root.handlers == [theirs] and root.level == logging.DEBUG
