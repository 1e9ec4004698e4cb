"""Forms: what a field says when its value is refused, by pydantic's error type (`form.<type>`,
its `ctx` filling the slots), and the lines that sum a refused form up."""

from __future__ import annotations

from siyu.console.i18n.plural import Message, Plural

MESSAGES: dict[str, Message] = {
    "form.invalid": ("表单有误，请按提示修改。", "The form has errors; see the fields."),
    # A refusal in one line: the field's label, then what is wrong with it.
    "form.problem": ("「{label}」{message}", "{label}: {message}"),
    "form.required": ("请填写", "Required"),
    "form.invalid_value": ("格式不正确", "Not valid"),
    "form.value_error": ("格式不正确：{error}", "Not valid: {error}"),
    "form.string_too_short": (
        "至少 {min_length} 个字符",
        Plural("at least 1 character", "at least {min_length} characters", count="min_length"),
    ),
    "form.string_too_long": (
        "最多 {max_length} 个字符",
        Plural("at most 1 character", "at most {max_length} characters", count="max_length"),
    ),
    "form.string_pattern_mismatch": ("格式不正确", "Not in the expected form"),
    "form.too_short": (
        "至少 {min_length} 项",
        Plural("at least 1 item", "at least {min_length} items", count="min_length"),
    ),
    "form.too_long": (
        "最多 {max_length} 项",
        Plural("at most 1 item", "at most {max_length} items", count="max_length"),
    ),
    "form.int_parsing": ("请填写整数", "A whole number"),
    "form.int_from_float": ("请填写整数", "A whole number"),
    "form.greater_than": ("须大于 {gt}", "Above {gt}"),
    "form.greater_than_equal": ("不能小于 {ge}", "At least {ge}"),
    "form.less_than": ("须小于 {lt}", "Below {lt}"),
    "form.less_than_equal": ("不能大于 {le}", "At most {le}"),
    "form.enum": ("请从列表中选择", "Choose one of the options"),
    "form.literal_error": ("请从列表中选择", "Choose one of the options"),
    "form.date_parsing": ("日期格式为 2026-12-01", "A date like 2026-12-01"),
    "form.date_from_datetime_parsing": ("日期格式为 2026-12-01", "A date like 2026-12-01"),
    "form.yuan": (
        "金额以元填写，最多两位小数，不能为负。",
        "Yuan, at most two decimals, not negative.",
    ),
}
