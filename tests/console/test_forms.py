"""Console forms: `parse_form` reads a posted form into its model and reports each field's first
problem in the operator's language, chosen by the error's type; a form's own words and a
validator's named words win; the refusal says the first problem in one line."""

from __future__ import annotations

from datetime import date
from typing import ClassVar

import pytest
from pydantic import BaseModel, Field, field_validator, model_validator
from starlette.datastructures import FormData

from siyu.console import errors as console_errors
from siyu.console.forms import ConsoleForm, FormInvalid, Yuan, parse_form
from siyu.console.i18n import Translator
from siyu.core.errors import ErrorCode
from siyu.security import errors as security_errors

ZH, EN = Translator("zh-CN"), Translator("en")


class Signup(ConsoleForm):
    labels: ClassVar[dict[str, str]] = {"name": "reach.field.name", "age": "reach.field.tag"}

    name: str = Field(max_length=3)
    age: int = Field(default=18, ge=1, le=150)
    starts_on: date | None = None
    kind: str = "keyword"


def refused(form: dict[str, str], model: type[ConsoleForm], tr: Translator) -> FormInvalid:
    with pytest.raises(FormInvalid) as caught:
        parse_form(form, model, tr)
    return caught.value


# --- parsing -------------------------------------------------------------------------------


def test_a_good_form_is_its_model_blank_inputs_take_defaults_and_others_are_ignored() -> None:
    # given a posted form with a blank input and the CSRF token the model does not name
    posted = FormData([("name", "Ann"), ("age", ""), ("kind", ""), ("csrf_token", "t")])
    # when it is parsed
    form = parse_form(posted, Signup, ZH)
    # then the values are typed, and blank ones are their fields' defaults
    assert form == Signup(name="Ann", age=18, starts_on=None, kind="keyword")


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("zh-CN", {"name": "最多 3 个字符", "age": "不能大于 150",
                   "starts_on": "日期格式为 2026-12-01"}),
        ("en", {"name": "at most 3 characters", "age": "At most 150",
                "starts_on": "A date like 2026-12-01"}),
    ],
)  # fmt: skip
def test_each_field_says_its_problem_in_the_operators_language(
    lang: str, expected: dict[str, str]
) -> None:
    # when a form with three bad values is parsed
    problem = refused({"name": "Anna", "age": "151", "starts_on": "soon"}, Signup, Translator(lang))
    # then each field has its message, by the error's type and its limits
    assert problem.errors == expected
    assert (problem.code, problem.status) == ("console.form_invalid", 422)


def test_english_counts_one_character_in_the_singular() -> None:
    class Initial(ConsoleForm):
        letter: str = Field(max_length=1)

    assert refused({"letter": "ab"}, Initial, EN).errors == {"letter": "at most 1 character"}


def test_a_missing_or_empty_required_field_asks_to_be_filled() -> None:
    class Named(ConsoleForm):
        name: str = Field(min_length=1)
        code: str

    assert refused({"code": ""}, Named, ZH).errors == {"name": "请填写", "code": "请填写"}
    assert refused({"name": "", "code": "x"}, Named, EN).errors == {"name": "Required"}


def test_a_type_without_words_of_its_own_reads_as_not_valid() -> None:
    class Flag(ConsoleForm):
        on: bool

    assert refused({"on": "maybe"}, Flag, ZH).errors == {"on": "格式不正确"}


# --- whose words -----------------------------------------------------------------------------


def test_the_forms_own_words_for_a_field_win_over_the_general_ones() -> None:
    class App(ConsoleForm):
        messages: ClassVar[str | None] = "apps.invalid"
        name: str = Field(max_length=3)
        note: str = Field(default="", max_length=2)

    problem = refused({"name": "a long name", "note": "abc"}, App, ZH)
    # `apps.invalid.name` exists; there is no `apps.invalid.note`, so its type speaks
    assert problem.errors == {"name": ZH("apps.invalid.name"), "note": "最多 2 个字符"}


def test_a_validator_chooses_its_words_by_naming_a_catalog_key() -> None:
    class Order(ConsoleForm):
        messages: ClassVar[str | None] = "apps.invalid"
        name: Yuan  # `apps.invalid.name` exists, but the yuan validator names `form.yuan`

    assert parse_form({"name": "9.9"}, Order, ZH).name == 990
    assert refused({"name": "9.999"}, Order, ZH).errors == {"name": ZH("form.yuan")}
    assert refused({"name": "-1"}, Order, EN).errors == {"name": EN("form.yuan")}


def test_a_validators_own_sentence_is_shown_after_not_valid() -> None:
    class Slug(ConsoleForm):
        slug: str

        @field_validator("slug")
        @classmethod
        def _plain(cls, value: str) -> str:
            if " " in value:
                raise ValueError("no spaces")
            return value

    assert refused({"slug": "a b"}, Slug, EN).errors == {"slug": "Not valid: no spaces"}


# --- the first problem per field, lists and nested models -----------------------------------


class Step(BaseModel):
    min_days: int = Field(ge=0)
    percent: int = Field(le=100)


class Plan(BaseModel):
    steps: list[Step]
    title: str = Field(max_length=5)


class PlanForm(ConsoleForm):
    fields_of: ClassVar[dict[str, str]] = {"steps": "table"}
    table: str
    title: str


def test_problems_inside_a_list_are_their_fields_and_the_first_one_is_kept() -> None:
    # given a form whose service input has a list of steps, two of them wrong
    form = parse_form({"table": "x", "title": "long title"}, PlanForm, ZH)
    steps = [{"min_days": -1, "percent": 200}, {"min_days": 1, "percent": 300}]
    # when the service's input is built from it
    with pytest.raises(FormInvalid) as caught:
        form.build(Plan, ZH, steps=steps, title=form.title)
    # then each problem is under the form's field that shows it, the first one only
    assert caught.value.errors == {"table": "不能小于 0", "title": "最多 5 个字符"}


def test_a_problem_inside_a_nested_model_is_its_fields() -> None:
    class Window(BaseModel):
        opens: int
        closes: int

    class Rule(BaseModel):
        window: Window
        note: str = Field(max_length=1)

    class RuleForm(ConsoleForm):
        note: str

    form = parse_form({"note": "ab"}, RuleForm, EN)
    with pytest.raises(FormInvalid) as caught:
        form.build(Rule, EN, window={"opens": 1, "closes": "x"}, note=form.note)
    assert caught.value.errors == {"window": "A whole number", "note": "at most 1 character"}


def test_a_problem_of_the_whole_input_is_said_without_a_field() -> None:
    class Period(BaseModel):
        starts: int
        ends: int

        @model_validator(mode="after")
        def _in_order(self) -> Period:
            if self.ends < self.starts:
                raise ValueError("it ends before it starts")
            return self

    class PeriodForm(ConsoleForm):
        starts: int
        ends: int

    form = parse_form({"starts": "2", "ends": "1"}, PeriodForm, EN)
    with pytest.raises(FormInvalid) as caught:
        form.build(Period, EN, starts=form.starts, ends=form.ends)
    assert caught.value.errors == {"": "Not valid: it ends before it starts"}
    assert EN.refusal(caught.value) == "Nothing was saved: Not valid: it ends before it starts"


# --- as a refusal ---------------------------------------------------------------------------


def test_the_refusal_says_the_first_problem_with_the_fields_label() -> None:
    # when a form with two problems is refused
    zh = refused({"name": "Anna", "age": "0"}, Signup, ZH)
    en = refused({"name": "Anna", "age": "0"}, Signup, EN)
    # then its one line names the first field by its label, in the operator's language
    assert ZH.refusal(zh) == "表单有误，没有保存：「名称」最多 3 个字符"
    assert EN.refusal(en) == "Nothing was saved: Name: at most 3 characters"
    assert zh.summary == "表单有误，请按提示修改。"


def test_a_form_refuses_as_its_code_and_a_field_as_the_code_it_always_had() -> None:
    class Operator(ConsoleForm):
        refused_as: ClassVar[ErrorCode] = console_errors.FORM_INVALID
        field_codes: ClassVar[dict[str, ErrorCode]] = {"role": security_errors.INVALID_ROLE}
        email: str = Field(default="", max_length=5)
        role: str = Field(pattern="^(owner|admin)$")

    bad_role = refused({"email": "a@b", "role": "king"}, Operator, ZH)
    assert (bad_role.code, ZH.refusal(bad_role)) == ("security.invalid_role", "请选择有效的角色。")
    bad_email = refused({"email": "a@b.example", "role": "owner"}, Operator, ZH)
    assert bad_email.code == "console.form_invalid"
    assert ZH.refusal(bad_email) == "表单有误，没有保存：「email」最多 5 个字符"


def test_what_was_typed_comes_back_by_field_but_never_a_secret() -> None:
    class Login(ConsoleForm):
        not_echoed: ClassVar[frozenset[str]] = frozenset({"password"})
        user: str = Field(validation_alias="name")
        password: str

    sent = {"name": "ann", "password": "hunter2", "csrf_token": "t"}
    assert Login.echo(sent) == {"user": "ann"}
    assert refused({"password": "x"}, Login, ZH).errors == {"user": "请填写"}
