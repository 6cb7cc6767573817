"""Every list pages the same way: ``?limit=&offset=``, strictly parsed and bounded (issue 11, findings 4, 6, 14).

A malformed or out-of-range value is a 400 naming the parameter (DRF would silently fall back to
the default page, or pass a 64-bit overflow to the database, which answered 409), and the schema
states the bounds.
"""
from __future__ import annotations

from typing import Any

import pytest

from controlplane.core.pagination import PanoptesPagination

MAX = PanoptesPagination.max_limit


def _sites(admin: Any, n: int) -> None:
    from controlplane.cameras.models import Site

    Site.objects.bulk_create([Site(name=f"site-{i:04d}") for i in range(n)])


def test_a_list_gives_the_default_page_and_links_to_the_next(api: Any) -> None:
    admin = api("admin")
    _sites(admin, 60)

    page = admin.get("/api/v1/sites/").json()

    assert page["count"] == 60 and len(page["results"]) == PanoptesPagination.default_limit == 50
    assert "offset=50" in page["next"] and page["previous"] is None


@pytest.mark.parametrize(("query", "expected"), [("limit=1", 1), (f"limit={MAX}", MAX), ("limit=0007", 7)])
def test_a_limit_within_bounds_gives_that_many(api: Any, query: str, expected: int) -> None:
    admin = api("admin")
    _sites(admin, MAX + 1)

    response = admin.get(f"/api/v1/sites/?{query}")

    assert response.status_code == 200, response.json()
    assert len(response.json()["results"]) == expected


@pytest.mark.parametrize(
    "value",
    [
        "9223372036854775808",  # 2**63: reached the database; on SQLite that came back as a 409
        "18446744073709551616",  # 2**64: a SQL syntax error on MariaDB, a 500
        str(MAX + 1), "0", "-1", "true", "", "abc", "1.5", "1e3", "0x10", "+5", " 5", "5 ", "1_0",
        "\u0665",  # ARABIC-INDIC DIGIT FIVE: int() takes it
        "9" * 5000,  # int() refuses more than 4,300 digits with a ValueError of its own
    ],
)
def test_a_malformed_or_out_of_range_limit_is_a_400_naming_it(api: Any, value: str) -> None:
    _sites(api("admin"), 2)  # something to page, so that the query reaches the database

    response = api("viewer").get("/api/v1/sites/", {"limit": value})

    assert response.status_code == 400, response.content[:200]
    assert list(response.json()) == ["limit"], response.json()
    assert str(MAX) in response.json()["limit"][0]


@pytest.mark.parametrize("value", ["-1", "true", "", "x", "1.0", "9223372036854775808", "\u0665"])
def test_a_malformed_or_out_of_range_offset_is_a_400_naming_it(api: Any, value: str) -> None:
    _sites(api("admin"), 2)

    response = api("viewer").get("/api/v1/sites/", {"offset": value})

    assert response.status_code == 400, response.content[:200]
    assert list(response.json()) == ["offset"], response.json()


def test_an_offset_past_the_end_is_an_empty_page_not_an_error(api: Any) -> None:
    admin = api("admin")
    _sites(admin, 3)

    response = admin.get("/api/v1/sites/", {"offset": str(2**63 - 1), "limit": str(MAX)})

    assert response.status_code == 200
    assert response.json()["count"] == 3 and response.json()["results"] == []


@pytest.mark.parametrize(
    "path", ["/api/v1/revisions/", "/api/v1/alarms/", "/api/v1/segments/", "/api/v1/users/", "/api/v1/deliveries/"]
)
def test_every_list_refuses_a_page_above_the_maximum(api: Any, path: str) -> None:
    response = api("admin").get(path, {"limit": MAX + 1})

    assert response.status_code == 400 and "limit" in response.json()


def test_the_schema_states_the_bounds_of_limit_and_offset(api: Any) -> None:
    schema = api(None).get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()

    parameters = {p["name"]: p["schema"] for p in schema["paths"]["/api/v1/alarms/"]["get"]["parameters"]}
    assert parameters["limit"] == {"type": "integer", "minimum": 1, "maximum": MAX, "default": 50}
    assert parameters["offset"] == {"type": "integer", "minimum": 0, "maximum": 2**63 - 1, "default": 0}


def test_a_list_of_heavy_items_has_a_lower_maximum_that_its_schema_states(api: Any) -> None:
    admin = api("admin")

    refused = admin.get("/api/v1/models/", {"limit": 21})
    schema = api(None).get("/api/v1/schema/", HTTP_ACCEPT="application/json").json()

    assert refused.status_code == 400 and "from 1 to 20" in refused.json()["limit"][0]
    parameters = {p["name"]: p["schema"] for p in schema["paths"]["/api/v1/models/"]["get"]["parameters"]}
    assert parameters["limit"]["maximum"] == 20
