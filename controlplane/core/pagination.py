"""One page shape for every list of the API: ``?limit=&offset=``, strictly read and bounded.

DRF's LimitOffsetPagination falls back to the default page on a value it cannot read
(``limit=true``) and passes any integer to the database: ``limit=2**64`` was a SQL syntax error
(500) on MariaDB and an overflow answered as a 409 on SQLite. Here a malformed or out-of-range
value is a 400 naming the parameter, and the schema states the bounds (used by integrators and
by schemathesis in tests/test_api_fuzz.py).
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from django.db.models import QuerySet
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.views import APIView

# ASCII digits only: int() would also take " 5", "+5", "1_0" and other scripts' digits ("٥").
_DIGITS = re.compile(r"[0-9]+")


class PanoptesPagination(LimitOffsetPagination):
    """``limit`` from 1 to ``max_limit`` (default 50), ``offset`` from 0; an offset past the end is an empty page.

    A viewset whose items are much heavier than the rest sets a lower ``max_page_size``.
    """

    default_limit = 50
    # Measured on the test stack, at the heaviest items the configuration limits allow
    # (analytics.limits): 500 zones of 256 points are 5.3 MB and 0.42 s, 500 alarms with their
    # history 0.44 MB and 0.10 s. More buys an integrator nothing that two requests do not.
    max_limit = 500
    # The largest OFFSET that MariaDB, PostgreSQL and SQLite all take (signed 64-bit). Past the end
    # of a list the page is empty before any query, so this only keeps the schema honest.
    max_offset = 2**63 - 1

    offset_query_description = "Index of the first result, from 0; past the end the page is empty."

    def paginate_queryset(
        self, queryset: QuerySet[Any, Any] | Sequence[Any], request: Request, view: APIView | None = None
    ) -> list[Any] | None:
        self.max_limit = _max_limit(view)  # one paginator per view instance: safe to set here
        # DRF reads the offset only once it has counted: read it first, so a bad one costs no query.
        self.get_offset(request)
        return super().paginate_queryset(queryset, request, view)

    def get_limit(self, request: Request) -> int:
        return _read(request, self.limit_query_param, self.default_limit, 1, self.max_limit)

    def get_offset(self, request: Request) -> int:
        return _read(request, self.offset_query_param, 0, 0, self.max_offset)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        highest = _max_limit(view)
        bounds = {
            self.limit_query_param: {"minimum": 1, "maximum": highest, "default": self.default_limit},
            self.offset_query_param: {"minimum": 0, "maximum": self.max_offset, "default": 0},
        }
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"].update(bounds[parameter["name"]])
            if parameter["name"] == self.limit_query_param:
                parameter["description"] = f"Number of results per page, 1 to {highest} (default {self.default_limit})."
        return parameters


def _max_limit(view: Any) -> int:
    return min(getattr(view, "max_page_size", PanoptesPagination.max_limit), PanoptesPagination.max_limit)


def _read(request: Request, name: str, default: int, lowest: int, highest: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    # A length check before int(): a number of thousands of digits is refused without converting it.
    if not _DIGITS.fullmatch(raw) or len(raw.lstrip("0")) > len(str(highest)) or not lowest <= int(raw) <= highest:
        raise ValidationError({name: [f"must be a whole number from {lowest} to {highest}"]})
    return int(raw)
