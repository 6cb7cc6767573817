"""One page shape for every list of the API: ``?limit=&offset=``, strictly read and bounded.

DRF's LimitOffsetPagination falls back to the default page on a value it cannot read
(``limit=true``) and passes any integer to the database: ``limit=2**64`` was a SQL syntax error
(500) on MariaDB and an overflow answered as a 409 on SQLite. Here a malformed or out-of-range
value is a 400 naming the parameter, and the schema states the bounds (used by integrators and
by schemathesis in tests/test_api_fuzz.py).
"""
from __future__ import annotations

import re
from typing import Any

from django.db.models import QuerySet
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request

# ASCII digits only: int() would also take " 5", "+5", "1_0" and other scripts' digits ("٥").
_DIGITS = re.compile(r"[0-9]+")


class PanoptesPagination(LimitOffsetPagination):
    """``limit`` from 1 to ``max_limit`` (default 50), ``offset`` from 0; an offset past the end is an empty page."""

    default_limit = 50
    # The heaviest items a list may carry within the configuration limits (a zone of the most
    # points, an alarm with its history) stay a few MB and well under a second a page at 500;
    # a bigger page buys an integrator nothing that two requests do not.
    max_limit = 500
    # The largest OFFSET that MariaDB, PostgreSQL and SQLite all take (signed 64-bit). Past the end
    # of a list the page is empty before any query, so this only keeps the schema honest.
    max_offset = 2**63 - 1

    limit_query_description = f"Number of results per page, 1 to {max_limit} (default {default_limit})."
    offset_query_description = "Index of the first result, from 0; past the end the page is empty."

    def paginate_queryset(self, queryset: QuerySet[Any], request: Request, view: Any = None) -> list[Any] | None:
        # DRF reads the offset only once it has counted: read it first, so a bad one costs no query.
        self.get_offset(request)
        return super().paginate_queryset(queryset, request, view)

    def get_limit(self, request: Request) -> int:
        return _read(request, self.limit_query_param, self.default_limit, 1, self.max_limit)

    def get_offset(self, request: Request) -> int:
        return _read(request, self.offset_query_param, 0, 0, self.max_offset)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        bounds = {
            self.limit_query_param: {"minimum": 1, "maximum": self.max_limit, "default": self.default_limit},
            self.offset_query_param: {"minimum": 0, "maximum": self.max_offset, "default": 0},
        }
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"].update(bounds[parameter["name"]])
        return parameters


def _read(request: Request, name: str, default: int, lowest: int, highest: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    # A length check before int(): a number of thousands of digits is refused without converting it.
    if not _DIGITS.fullmatch(raw) or len(raw.lstrip("0")) > len(str(highest)) or not lowest <= int(raw) <= highest:
        raise ValidationError({name: [f"must be a whole number from {lowest} to {highest}"]})
    return int(raw)
