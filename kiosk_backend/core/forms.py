"""HTML forms parsed by marshmallow schemas, like the JSON API's bodies.

``use_form(Schema, template)`` wraps a console view: GET renders the empty form; POST
loads ``request.form`` through the schema and calls the view with the clean data; a
validation error, or a DomainError raised by the service the view calls, re-renders the
same form with the person's values and the messages next to their fields (422, or the
error's status). The request's transaction is rolled back by core.requests, since the
answer is ≥ 400. Views stay at a few lines: parse, one service call, redirect.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

import marshmallow as ma
from flask import render_template, request

from .errors import DomainError, Invalid
from .i18n import describe_validation_errors, english_part, translate_validation_message


def field_errors(messages: Any) -> dict[str, list[str]]:
    """marshmallow's (possibly nested) messages as ``{form field: ["English / 中文", …]}``;
    a bad line of a list field reads "line 2 date: …" instead of a bare list index."""

    def walk(value, where: str):
        if isinstance(value, dict):
            for key, inner in value.items():
                label = f"line {key + 1} / 第 {key + 1} 行 " if isinstance(key, int) else f"{key}: "
                yield from walk(inner, where + label)
        elif isinstance(value, (list, tuple)):
            for inner in value:
                yield from walk(inner, where)
        else:
            message = str(value)
            en, zh = english_part(message), translate_validation_message(message)
            yield where + (message if en == zh else f"{en} / {zh}")

    if not isinstance(messages, dict):
        messages = {"_": messages}
    return {str(field): list(walk(value, "")) for field, value in messages.items()}


def domain_errors(error: DomainError) -> dict[str, list[str]]:
    """A service's refusal as form errors: per field if it named fields, else for the form."""
    if error.errors:
        return {str(k): (v if isinstance(v, list) else [str(v)]) for k, v in error.errors.items()}
    return {"_": [f"{error.message} / {error.message_zh}"]}


def load_form(schema: ma.Schema | type[ma.Schema]) -> dict:
    """``request.form`` through ``schema``, for action forms that have no page of their own
    to re-render (buttons on a detail page). Raises Invalid (422) naming each bad field in
    both languages; the console's error page shows it with a way back."""
    loader = schema() if isinstance(schema, type) else schema
    try:
        return loader.load(request.form)
    except ma.ValidationError as exc:
        message, message_zh = describe_validation_errors(exc.messages)
        raise Invalid(message, message_zh, errors=field_errors(exc.messages)) from None


def use_form(schema: ma.Schema | type[ma.Schema], template: str, *,
             context: Callable[..., dict] | None = None) -> Callable:
    """Decorate a view ``view(data, **url_args)`` that handles a valid POST.

    ``context(**url_args)`` gives the template's other variables (the object being edited,
    choices); the template always gets ``errors`` (dict, "_" for the whole form) and
    ``values`` (what the person typed, or None on GET).
    """
    loader = schema() if isinstance(schema, type) else schema

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(**url_args):
            extra = context(**url_args) if context else {}
            if request.method != "POST":
                return render_template(template, errors={}, values=None, **extra)
            try:
                return view(loader.load(request.form), **url_args)
            except ma.ValidationError as exc:
                errors, status = field_errors(exc.messages), 422
            except DomainError as exc:
                errors, status = domain_errors(exc), exc.status_code
            return render_template(template, errors=errors, values=request.form, **extra), status

        return wrapper

    return decorate
