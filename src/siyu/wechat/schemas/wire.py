"""Wire formats of pushes and replies: XML (OA and MP) and JSON (MP)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import orjson
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as parse_untrusted_xml

from siyu.wechat.schemas.fields import MAX_XML_DEPTH, XML_FORBIDDEN, MalformedPush


def format_of(data: bytes) -> str:
    head = data.lstrip()[:1]
    if head == b"<":
        return "xml"
    if head == b"{":
        return "json"
    raise MalformedPush("the body is neither XML nor JSON")


def parse_body(data: bytes, fmt: str) -> dict[str, Any]:
    return parse_xml(data) if fmt == "xml" else parse_json(data)


def parse_xml(data: bytes) -> dict[str, Any]:
    """The fields of an `<xml>` push; DTDs, entities and external references are refused."""
    try:
        root = parse_untrusted_xml(data, forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise MalformedPush("the body is not well-formed XML without a DTD") from exc
    fields = _element(root, 0)
    if root.tag != "xml" or not isinstance(fields, dict):
        raise MalformedPush("a push is an <xml> element holding fields")
    return fields


def _element(element: Element, depth: int) -> str | dict[str, Any]:
    children = list(element)
    if not children:
        return element.text or ""
    if depth >= MAX_XML_DEPTH:
        raise MalformedPush("the XML nests deeper than any push")
    fields: dict[str, Any] = {}
    repeated: set[str] = set()
    for child in children:
        value = _element(child, depth + 1)
        if child.tag not in fields:
            fields[child.tag] = value
        elif child.tag in repeated:
            fields[child.tag].append(value)
        else:  # a repeated element is a list (<item>, <List>)
            fields[child.tag] = [fields[child.tag], value]
            repeated.add(child.tag)
    return fields


def parse_json(data: bytes) -> dict[str, Any]:
    try:
        fields = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise MalformedPush("the body is not valid JSON") from exc
    if not isinstance(fields, dict):
        raise MalformedPush("a JSON push is an object")
    return fields


def to_xml(fields: Mapping[str, Any]) -> str:
    return f"<xml>{_xml_fields(fields)}</xml>"


def _xml_fields(fields: Mapping[str, Any]) -> str:
    parts = []
    for tag, value in fields.items():
        for one in value if isinstance(value, list) else [value]:
            parts.append(f"<{tag}>{_xml_value(one)}</{tag}>")
    return "".join(parts)


def _xml_value(value: Any) -> str:
    if isinstance(value, Mapping):
        return _xml_fields(value)
    if isinstance(value, int):
        return str(value)
    # "]]>" would close the section early: it is split across two sections.
    safe = XML_FORBIDDEN.sub("", str(value)).replace("]]>", "]]]]><![CDATA[>")
    return f"<![CDATA[{safe}]]>"


def media_type_of(body: str) -> str:
    if body.startswith("<"):
        return "application/xml"
    if body.startswith("{"):
        return "application/json"
    return "text/plain"
