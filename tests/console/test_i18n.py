"""The console's text catalog: one format by area, both languages with the same slots, no key
defined twice, and English plural forms picked by the count."""

from __future__ import annotations

import ast
import inspect
import re
import string
from types import ModuleType

import pytest

from siyu.console.i18n import CATALOGS, EN, ZH, Plural, Translator
from siyu.console.i18n import catalog as catalog_package
from siyu.console.i18n.catalog import AREAS, DuplicateKey, merged
from siyu.console.i18n.plural import Message

FORMATTER = string.Formatter()
# A slot holding a count, then a plural noun: "{n} members", "{days} days".
COUNTED_NOUN = re.compile(r"\{(n|count|days|refunds|rows)\}( new)? [a-z-]+s\b")


def slots(text: str) -> set[str]:
    return {name for _, name, _, _ in FORMATTER.parse(text) if name is not None}


def every_message() -> list[tuple[str, str, Message]]:
    return [(area, key, message) for area, found in AREAS.items() for key, message in found.items()]


def area_modules() -> list[ModuleType]:
    return [
        value
        for value in vars(catalog_package).values()
        if isinstance(value, ModuleType) and hasattr(value, "MESSAGES")
    ]


# --- both languages ------------------------------------------------------------------------


def test_every_key_has_chinese_and_english() -> None:
    missing = []
    for area, key, (zh, en) in every_message():
        forms = [en.one, en.other] if isinstance(en, Plural) else [en]
        if not zh.strip() or not all(isinstance(f, str) and f.strip() for f in forms):
            missing.append(f"{area}: {key}")
    assert missing == []


def test_chinese_and_english_fill_the_same_slots() -> None:
    mismatched = []
    for area, key, (zh, en) in every_message():
        if isinstance(en, Plural):
            # `one` may spell the count out ("1 refund"); `other` names every slot.
            same = slots(en.other) == slots(zh) and slots(en.one) <= slots(zh)
            same = same and en.count in slots(zh)
        else:
            same = slots(en) == slots(zh)
        if not same:
            mismatched.append(f"{area}: {key}")
    assert mismatched == []


def test_both_catalogs_hold_every_key_of_every_area() -> None:
    keys = {key for _, key, _ in every_message()}
    assert set(ZH) == keys
    assert set(EN) == keys
    assert set(CATALOGS) == {"zh-CN", "en"}


# --- one key, one place --------------------------------------------------------------------


def test_no_key_is_defined_in_two_areas() -> None:
    owners: dict[str, list[str]] = {}
    for area, key, _ in every_message():
        owners.setdefault(key, []).append(area)
    assert {key: areas for key, areas in owners.items() if len(areas) > 1} == {}


def test_no_area_repeats_a_key_in_its_own_dict() -> None:
    # A repeated key in one dict literal would silently keep the last text.
    repeated = []
    modules = area_modules()
    assert len(modules) == len(AREAS)
    for module in modules:
        for node in ast.walk(ast.parse(inspect.getsource(module))):
            if isinstance(node, ast.Dict):
                keys = [str(k.value) for k in node.keys if isinstance(k, ast.Constant)]
                repeated += [f"{module.__name__}: {k}" for k in set(keys) if keys.count(k) > 1]
    assert repeated == []


def test_a_key_defined_in_two_areas_is_refused() -> None:
    # Given two areas that both define "nav.home"
    areas = {"one": {"nav.home": ("首页", "Home")}, "two": {"nav.home": ("主页", "Start")}}
    # When they are merged, then the merge is refused and names both areas
    with pytest.raises(DuplicateKey, match=r"'nav.home' is defined in both 'one' and 'two'"):
        merged(areas)


def test_areas_without_shared_keys_merge_in_order() -> None:
    areas = {"one": {"a": ("甲", "A")}, "two": {"b": ("乙", "B")}}
    assert list(merged(areas).items()) == [("a", ("甲", "A")), ("b", ("乙", "B"))]


# --- plural forms --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, "1 member"),
        ("1", "1 member"),  # templates pass counts already formatted
        (0, "0 members"),
        (2, "2 members"),
        ("1,024", "1,024 members"),
    ],
)
def test_english_picks_one_for_exactly_one_and_other_otherwise(n: object, expected: str) -> None:
    assert Translator("en")("community.group.members_count", n=n) == expected


def test_a_plural_can_count_by_another_slot() -> None:
    tr = Translator("en")
    one = tr("community.settlement.confirmed_done", refunds=1, amount="3.00")
    many = tr("community.settlement.confirmed_done", refunds=4, amount="12.00")
    assert one == "Confirmed: 1 refund, ¥3.00 in all, going out through WeChat Pay."
    assert many == "Confirmed: 4 refunds, ¥12.00 in all, going out through WeChat Pay."


def test_chinese_has_no_plural() -> None:
    tr = Translator("zh-CN")
    assert tr("community.group.members_count", n=1) == "1 位成员"
    assert tr("community.group.members_count", n=3) == "3 位成员"


def test_plural_alone_picks_its_form() -> None:
    plural = Plural(one="1 refund", other="{n} refunds")
    assert plural.pick({"n": 1}) == "1 refund"
    assert plural.pick({"n": 2}) == "{n} refunds"
    assert plural.pick({}) == "{n} refunds"  # no count given: the general form
    by_days = Plural(one="1 day", other="{days} days", count="days")
    assert by_days.pick({"days": 1, "n": 5}) == "1 day"


def test_no_english_text_fakes_a_plural() -> None:
    # "{n} check-in(s)", or "{n} members" that reads "1 members": such texts are Plurals.
    faked = [
        key
        for key, text in EN.items()
        if isinstance(text, str) and ("(s)" in text or COUNTED_NOUN.search(text))
    ]
    assert faked == []
