"""Every JSON the control plane reads from a request goes through here, with a depth limit.

Python's json module recurses once per nesting level: ``[[[[...]]]]`` a few thousand levels deep
raised RecursionError, a 500, even on the anonymous token endpoint. The API parses bodies with
``DepthLimitedJSONParser`` (the only parser of the resource API, settings.REST_FRAMEWORK; the
token view's JSON parser) and the admin parses JSON form fields with ``DepthLimitedJSONFormField``
(controlplane.core.admin), so a document deeper than MAX_JSON_DEPTH is a 400, or a form error,
before the decoder sees it. The body's size is capped before any of this (settings
DATA_UPLOAD_MAX_MEMORY_SIZE, a 413 from controlplane.core.api.exception_handler).
"""
from __future__ import annotations

import codecs
import json
import re
from collections.abc import Mapping
from typing import IO, Any

import numpy as np
from django import forms
from django.core.exceptions import ValidationError
from django.forms.fields import InvalidJSONInput
from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils.json import strict_constant

from analytics.limits import MAX_JSON_DEPTH

TOO_DEEP = f"JSON nested deeper than {MAX_JSON_DEPTH} levels is refused"

# A string runs to its closing quote, or to the end of the text when it has none, so that one
# left-to-right pass removes every string and the scan stays linear on hostile input.
_STRINGS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1 for an opening bracket, -1 (int8) for a closing one


def json_too_deep(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the JSON document ``text`` nests arrays and objects more than ``limit`` deep.

    Brackets inside strings do not count. Exact for valid JSON; for invalid JSON it may say True
    where the decoder would only have refused the syntax, which is refused either way. Linear and
    in C (regular expressions, numpy): 10 to 40 ms for the most hostile 1 MiB body.
    """
    if text.count("[") + text.count("{") <= limit:  # nearly every body: no scan at all
        return False
    brackets = _NOT_BRACKETS.sub("", _STRINGS.sub("", text)).encode("ascii")
    if not brackets:
        return False
    depths = np.cumsum(np.frombuffer(brackets.translate(_STEPS), dtype=np.int8), dtype=np.int32)
    return int(depths.max()) > limit


class DepthLimitedJSONParser(parsers.JSONParser):
    """DRF's JSON parser, refusing documents nested deeper than MAX_JSON_DEPTH with a 400."""

    def parse(self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        encoding = parsers.get_encoding(parser_context or {})  # text charsets only (no bz2_codec bombs)
        try:
            text = codecs.getreader(encoding)(stream).read()
            if json_too_deep(text):
                raise ParseError(TOO_DEEP)
            return json.loads(text, parse_constant=strict_constant if self.strict else None)
        except ValueError as exc:  # undecodable bytes (UnicodeDecodeError), bad syntax, NaN
            raise ParseError(f"JSON parse error - {exc}") from None


class DepthLimitedJSONFormField(forms.JSONField):
    """The admin's JSON form field, reporting a too-deep document as a form error on the field."""

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and json_too_deep(value):
            raise ValidationError(TOO_DEEP, code="invalid")
        return super().to_python(value)

    def bound_data(self, data: Any, initial: Any) -> Any:
        # Called again to redisplay the form: show what was typed, never decode it.
        if isinstance(data, str) and json_too_deep(data):
            return InvalidJSONInput(data)
        return super().bound_data(data, initial)
