"""The API's filter backends (REST_FRAMEWORK["DEFAULT_FILTER_BACKENDS"]); kept apart from core.api,
which imports DRF's views, which read that setting."""
from __future__ import annotations

from rest_framework import filters
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request


class SearchFilter(filters.SearchFilter):
    """DRF's ``?search=``, whose refusal (a NUL character) names the parameter like every other 400."""

    def get_search_terms(self, request: Request) -> list[str]:
        try:
            return list(super().get_search_terms(request))
        except ValidationError as exc:
            raise ValidationError({self.search_param: exc.detail}) from None
