"""Console forms as pydantic models: a posted form is parsed in one call (`parse_form`), each
problem is reported under the field that shows it in the operator's language (`FormInvalid`),
and a refused form is answered in one way (`form_again`: the form shown again; or, for a form
with one message box, `web.error_response`, which says the refusal in one line)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, ClassVar, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError
from pydantic_core import ErrorDetails, PydanticCustomError
from starlette.datastructures import FormData
from starlette.responses import Response

from siyu.console import errors
from siyu.console.i18n import Translator
from siyu.console.web import is_htmx, render, translator
from siyu.core.errors import ErrorCode, SiyuError
from siyu.core.money import parse_yuan

__all__ = [
    "ConsoleForm",
    "FormInvalid",
    "Posted",
    "Yuan",
    "form_again",
    "parse_form",
]

F = TypeVar("F", bound="ConsoleForm")
_CJK = re.compile(r"[\u4e00-\u9fff]")
S = TypeVar("S", bound=BaseModel)


class ConsoleForm(BaseModel):
    """A form of the console, its fields named as the page's inputs (or aliased to them).

    A blank input counts as not sent, so the field's default applies (as FastAPI reads forms);
    inputs the model does not name (`csrf_token`) are ignored. The class variables say how the
    form's problems read: see each one.
    """

    model_config = ConfigDict(extra="ignore", frozen=True, loc_by_alias=False)

    # `<messages>.<field>` (e.g. `apps.invalid.appid`): the form's own words for any problem of
    # that field, preferred to the general words of the error's type (`form.<type>`).
    messages: ClassVar[str | None] = None
    # field → the catalog key of its label, to name the field in a one-line refusal
    labels: ClassVar[Mapping[str, str]] = {}
    # The refusal a form with one message box shows: a code whose text has a `{reason}` slot,
    # filled with the first problem. A form shown again with its fields keeps `request.invalid`
    # (each field says what is wrong; the line above the form says `summary`).
    refused_as: ClassVar[ErrorCode] = errors.FORM_INVALID
    # field → the code its problem is refused with (a code the console showed before forms)
    field_codes: ClassVar[Mapping[str, ErrorCode]] = {}
    # the line above a form shown again
    summary: ClassVar[str] = "form.invalid"
    # a service's refusal (its code) shown under a field as well, e.g. an AppID registered twice
    shown_at: ClassVar[Mapping[str, str]] = {}
    # a field of the service's input (`build`) → the form's field that shows its problems
    fields_of: ClassVar[Mapping[str, str]] = {}
    # fields never sent back to the browser (secrets), not even as the operator typed them
    not_echoed: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def inputs(cls) -> dict[str, str]:
        """Each field by the name of its input on the page."""
        found = {}
        for name, field in cls.model_fields.items():
            alias = field.validation_alias
            found[name] = alias if isinstance(alias, str) else name
        return found

    @classmethod
    def echo(cls, sent: Mapping[str, Any]) -> dict[str, str]:
        """What the operator typed, by field, to fill the form again (never a secret)."""
        return {
            name: str(sent[key])
            for name, key in cls.inputs().items()
            if key in sent and name not in cls.not_echoed
        }

    @classmethod
    def own_words(cls, field: str, tr: Translator) -> str | None:
        if cls.messages is None:
            return None
        for name in (field, cls.inputs().get(field, field)):
            if tr.has(key := f"{cls.messages}.{name}"):
                return tr(key)
        return None

    def build(self, schema: type[S], tr: Translator, /, **values: Any) -> S:
        """The service's input made from this form; its problems are the form's, by field
        (`fields_of` names the field that shows a problem of the input's own field)."""
        try:
            return schema.model_validate(values)
        except ValidationError as exc:
            raise FormInvalid.of(type(self), exc.errors(), tr) from None


class FormInvalid(SiyuError):
    """A form refused before any service saw it. `errors` holds each field's first problem in
    the operator's language; as a refusal it says the first problem (the `{reason}` of its
    code), so that a form with one message box shows it like any other refusal."""

    def __init__(
        self, code: ErrorCode, problems: dict[str, str], *, reason: str, summary: str
    ) -> None:
        refusal = code(reason, reason=reason)
        super().__init__(refusal.code, reason, status=refusal.status, params=refusal.params)
        self.errors = problems
        self.summary = summary

    @classmethod
    def of(
        cls, form: type[ConsoleForm], found: Iterable[ErrorDetails], tr: Translator
    ) -> FormInvalid:
        problems: dict[str, str] = {}
        for error in found:
            field = _field(error, form)
            problems.setdefault(field, _message(error, field, form, tr))
        first, message = next(iter(problems.items()))
        label = tr(form.labels[first]) if first in form.labels else first
        reason = tr("form.problem", label=label, message=message) if first else message
        code = form.field_codes.get(first, form.refused_as)
        return cls(code, problems, reason=reason, summary=tr(form.summary))


def _field(error: ErrorDetails, form: type[ConsoleForm]) -> str:
    """The field that shows a problem: a problem inside a list or a nested model is its
    field's; a problem of the whole model is the form's (`""`)."""
    if not error["loc"]:
        return ""
    name = str(error["loc"][0])
    return form.fields_of.get(name, name)


def _message(error: ErrorDetails, field: str, form: type[ConsoleForm], tr: Translator) -> str:
    """A problem in the operator's words, chosen by the error's type and filled from its ctx."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if "." in kind and tr.has(kind):  # a validator of the console names its words
        return tr(kind, **ctx)
    if (own := form.own_words(field, tr)) is not None:
        return own
    if kind == "missing" or (kind == "string_too_short" and ctx.get("min_length") == 1):
        return tr("form.required")
    if kind == "value_error" and tr.lang == "zh-CN" and not _CJK.search(str(ctx.get("error"))):
        # A rule of a service's schema says its problem in English (the API's words): a
        # Chinese operator reads that the field's value is not accepted, never the English.
        return tr("form.invalid_value")
    general = f"form.{kind}"
    return tr(general, **ctx) if tr.has(general) else tr("form.invalid_value")


def parse_form(form: Mapping[str, Any], model: type[F], tr: Translator) -> F:
    """The posted form as `model`; `FormInvalid` names each field's first problem."""
    sent = {
        key: form[key]
        for key in model.inputs().values()
        if key in form and form[key] is not None and form[key] != ""
    }
    try:
        return model.model_validate(sent)
    except ValidationError as exc:
        raise FormInvalid.of(model, exc.errors(), tr) from None


def form_again(
    request: Request,
    refused: SiyuError,
    context: Mapping[str, Any],
    *,
    form: type[ConsoleForm],
    sent: Mapping[str, Any],
    page: str,
    fragment: str,
) -> Response:
    """A refused form shown again (`fragment` for htmx, the whole `page` otherwise): what was
    typed (never a secret), each problem under its field and the refusal above the form, with
    the refusal's status (422 when the form itself was wrong)."""
    refused.refused()
    tr = translator(request)
    problems = dict(refused.errors) if isinstance(refused, FormInvalid) else {}
    if (field := form.shown_at.get(refused.code)) is not None:
        problems.setdefault(field, tr.refusal(refused))
    whole = problems.pop("", None)  # a problem of the whole form, said above it
    message = whole or refused.summary if isinstance(refused, FormInvalid) else tr.refusal(refused)
    shown = {
        **context,
        "form": form.echo(sent),
        "errors": problems,
        "form_error": {"code": refused.code, "message": message},
    }
    return render(request, fragment if is_htmx(request) else page, shown, status=refused.status)


async def _posted(request: Request) -> FormData:
    # Starlette keeps the parsed form on the request: the CSRF check has read it already.
    return await request.form()


Posted = Annotated[FormData, Depends(_posted)]
"""The posted form, for a handler to `parse_form` (read here: handlers run in a thread)."""


def _yuan(value: object) -> object:
    if not isinstance(value, str):
        return value
    try:
        return parse_yuan(value)
    except ValueError:
        raise PydanticCustomError(
            "form.yuan", "not an amount in yuan: {text}", {"text": value}
        ) from None


Yuan = Annotated[int, BeforeValidator(_yuan)]
"""An amount typed in yuan ("9", "9.9", "9.90"), as integer fen (`core.money`'s one rule)."""
