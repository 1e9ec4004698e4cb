"""The activity editor's form as the console reads it: money in yuan, refund steps typed as
"7:30, 14:60", and the editor's refusals mapped to the field that shows them."""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from siyu.community.schemas import ActivityCreate
from siyu.console.i18n import Translator
from siyu.core.money import parse_yuan

ACTIVITY_FIELDS = (
    "series_id",
    "code",
    "title",
    "status",
    "starts_on",
    "ends_on",
    "capacity",
    "fee",
    "deposit",
    "checkin_days_required",
    "window_start",
    "window_end",
    "evidence",
    "refund_rule",
    "refund_n",
)
# Model-level refusals of the activity editor, by the words of its validator → the field.
WHOLE_FORM = {
    "ends_on is before": "ends_on",
    "at most 366 days": "ends_on",
    "more check-in days": "checkin_days_required",
    "daily window": "window_end",
    "table refund rule": "refund_rule",
    "needs a deposit": "deposit",
}


class FormRefused(Exception):
    """A form value the console cannot even hand to the service (e.g. yuan with 3 decimals)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(", ".join(errors))
        self.errors = errors


def field_errors(exc: ValidationError, tr: Translator) -> dict[str, str]:
    """The editor's validation errors, each under the field that shows it (translated)."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        where = str(error["loc"][0]) if error["loc"] else ""
        if not where:
            message = str(error["msg"])
            where = next((f for words, f in WHOLE_FORM.items() if words in message), "title")
        errors.setdefault(where, tr(f"community.invalid.{where}"))
    return errors


def activity_input(sent: dict[str, str], tr: Translator) -> ActivityCreate:
    """The editor's fields (money in yuan, empty meaning none) → the API's ActivityCreate."""
    errors: dict[str, str] = {}
    body: dict[str, Any] = {}
    for key in ("fee", "deposit"):
        try:
            body[key] = parse_yuan(sent[key], blank=0)  # empty: none
        except ValueError:
            errors[key] = tr("community.invalid.amount")
    if errors:
        raise FormRefused(errors)
    for key in ACTIVITY_FIELDS:
        if key in ("fee", "deposit"):
            continue
        value = sent[key].strip()
        if value or key not in ("capacity", "refund_n", "window_start", "window_end"):
            body[key] = value
    if body.get("series_id") == "":
        body["series_id"] = 0
    if sent.get("refund_table", "").strip():
        try:
            body["refund_table"] = refund_steps(sent["refund_table"])
        except ValueError:
            raise FormRefused({"refund_table": tr("community.invalid.refund_table")}) from None
    return ActivityCreate.model_validate(body)


def refund_steps(text: str) -> list[dict[str, int]]:
    """ "7:30, 14:60, 21:100" (check-ins:percent, full-width punctuation too) → the steps."""
    steps = []
    for part in re.split(r"[,，;；\s]+", text.strip()):
        if not part:
            continue
        days, _, percent = part.replace("：", ":").partition(":")
        steps.append({"min_days": int(days), "percent": int(percent)})
    return steps
