"""core.forms: console forms parsed by marshmallow schemas."""
from __future__ import annotations

import marshmallow as ma
import pytest
from flask import Blueprint
from jinja2 import ChoiceLoader, DictLoader

from kiosk_backend.core.errors import Conflict, Invalid
from kiosk_backend.core.forms import field_errors, load_form, use_form


class PetForm(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    name = ma.fields.String(required=True, validate=ma.validate.Length(min=2))
    age = ma.fields.Integer(load_default=1)


def test_nested_messages_name_the_line_and_field_in_both_languages():
    errors = field_errors({"holidays": {1: {"date": ["Not a valid date."]}}, "name": ["Missing data for required field."]})
    assert errors["holidays"] == ["line 2 / 第 2 行 date: Not a valid date. / 不是有效的日期。"]
    assert errors["name"] == ["Missing data for required field. / 缺少必填字段。"]


@pytest.fixture
def forms_app(make_app):
    app = make_app()
    bp = Blueprint("pets", __name__)
    page = "{% for f, m in errors.items() %}<p class=error>{{ f }}={{ m|join(';') }}</p>{% endfor %}" \
           "<input name=name value='{{ values.get('name', '') if values else '' }}'>{{ owner }}"

    def context():
        return {"owner": "王阿姨"}

    @bp.route("/pets", methods=["GET", "POST"])
    @use_form(PetForm, "pet.html", context=context)
    def new_pet(data):
        if data["name"] == "taken":
            raise Conflict("Name taken.", "名字已被使用。")
        return f"made {data['name']} {data['age']}", 201

    @bp.post("/pets/quick")
    def quick():
        return str(load_form(PetForm))

    app.register_blueprint(bp)
    app.jinja_env.loader = ChoiceLoader([DictLoader({"pet.html": page}), app.jinja_env.loader])
    return app


def test_get_renders_the_empty_form_with_its_context(forms_app):
    response = forms_app.test_client().get("/pets")
    assert response.status_code == 200 and "王阿姨" in response.text and "error" not in response.text


def test_a_valid_post_calls_the_view_with_clean_data(forms_app):
    response = forms_app.test_client().post("/pets", data={"name": "Mimi", "age": "3", "csrf_token": "x"})
    assert response.status_code == 201 and response.text == "made Mimi 3"


def test_a_bad_post_re_renders_the_form_with_the_typed_values_and_field_messages(forms_app):
    response = forms_app.test_client().post("/pets", data={"name": "M", "age": "old"})
    assert response.status_code == 422
    assert "name=Shorter than minimum length 2. / 长度不能少于 2。" in response.text
    assert "age=Not a valid integer. / 不是有效的整数。" in response.text
    assert "value='M'" in response.text and "王阿姨" in response.text


def test_a_service_refusal_re_renders_the_form_with_its_status(forms_app):
    response = forms_app.test_client().post("/pets", data={"name": "taken"})
    assert response.status_code == 409 and "_=Name taken. / 名字已被使用。" in response.text


def test_load_form_raises_invalid_naming_the_fields(forms_app):
    with forms_app.test_request_context("/pets/quick", method="POST", data={"age": "x"}):
        with pytest.raises(Invalid) as caught:
            load_form(PetForm)
    assert set(caught.value.errors) == {"name", "age"} and caught.value.status_code == 422
    assert "name" in caught.value.message and "name" in caught.value.message_zh
