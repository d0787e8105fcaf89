"""The two wire formats GeoReport v2 requires, and its error shape.

Every answer is a list of flat records: JSON as an array of objects, XML as a root element holding
one element per record (``<service_requests><request>…``). Errors are ``[{"code", "description"}]``
(``<errors><error>…``) in the format the client asked for.
"""
from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree as ET

from flask import Response

FORMATS = ("json", "xml")
MIMETYPES = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}


class Open311Error(Exception):
    """Raised by the views; answered as the spec's error list with ``status`` as the HTTP status."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _to_xml(parent: ET.Element, name: str, value: Any) -> None:
    child = ET.SubElement(parent, name)
    if isinstance(value, dict):
        for key, inner in value.items():
            _to_xml(child, key, inner)
    elif isinstance(value, list):
        # Lists of scalars (discovery's formats) repeat a singular element: <formats><format>…
        item_name = name[:-1] if name.endswith("s") else "item"
        for inner in value:
            _to_xml(child, item_name, inner)
    else:
        child.text = _text(value)


def render(fmt: str, root: str, item: str | None, body: list[dict] | dict, status: int = 200) -> Response:
    """``body`` is a list of records (``item`` names each one in XML) or, for discovery, one object."""
    if fmt == "xml":
        element = ET.Element(root)
        if isinstance(body, dict):
            for key, value in body.items():
                _to_xml(element, key, value)
        else:
            for record in body:
                _to_xml(element, item or "item", record)
        payload = ET.tostring(element, encoding="unicode", xml_declaration=False)
        data = '<?xml version="1.0" encoding="utf-8"?>\n' + payload
    else:
        data = json.dumps(body, ensure_ascii=False)
    return Response(data, status=status, content_type=MIMETYPES[fmt])


def error_response(fmt: str, status: int, description: str) -> Response:
    return render(fmt, "errors", "error", [{"code": status, "description": description}], status)
