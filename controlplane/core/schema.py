"""The OpenAPI schema documents the error responses as controlplane.core.api.exception_handler returns them.

drf-spectacular documents only the success of an operation. Every operation here also says, in
one place, which errors it can answer and with which body, so that a client generated from the
schema knows them and schemathesis (tests/test_api_fuzz.py) fails on any response the schema
does not describe.
"""
from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework.permissions import AllowAny

_DETAIL = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
_VALIDATION = {
    "type": "object",
    "description": (
        "Each refused field or query parameter with its messages (a list of strings; an object by index or name"
        " for a list or nested field), `non_field_errors` for the input as a whole, or only `detail` when the"
        " body could not be read."
    ),
    "properties": {
        "detail": {"type": "string"},
        "non_field_errors": {"type": "array", "items": {"type": "string"}},
    },
    "additionalProperties": {"oneOf": [{"type": "array"}, {"type": "object"}]},
}
_BODIES = {"Error": _DETAIL, "ValidationError": _VALIDATION}  # component name -> schema
# code -> (description, body)
_ERRORS = {
    "400": ("The input was refused; nothing was changed.", "ValidationError"),
    "401": ("No valid token or session.", "Error"),
    "403": ("The user's role does not allow this.", "Error"),
    "404": ("No such object in the user's scope (sites), or no such file yet.", "Error"),
    "409": ("Conflicts with the current state: a unique value taken, an object in use, a state change that no"
            " longer applies, or (zones and bindings) the camera's zones being edited by another user in the"
            " panel's zone editor (`detail` names them and the lock's expiry).", "Error"),
    "413": ("The request body is larger than the server takes (`detail` says how large).", "Error"),
    "415": ("The request body's Content-Type is not one the operation reads.", "Error"),
    "429": ("Too many requests; `Retry-After` says when to try again.", "Error"),
}
_WRITES = {"POST", "PUT", "PATCH", "DELETE"}


class PanoptesAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema, plus the error responses each operation can give."""

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation: dict[str, Any] | None = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        responses = operation["responses"]
        for code in self._error_codes(operation):
            if code not in responses or not responses[code].get("content"):  # `404: None` in an extend_schema
                documented = responses.get(code, {}).get("description")  # a view's own words win
                responses[code] = {**self._error_response(code), **({"description": documented} if documented else {})}
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _error_codes(self, operation: dict[str, Any]) -> list[str]:
        codes = []
        has_body = "requestBody" in operation
        if has_body or any(p["in"] == "query" for p in operation.get("parameters", [])):
            codes.append("400")
        if not all(isinstance(p, AllowAny) for p in self.view.get_permissions()):
            codes += ["401", "403"]
        if any(p["in"] == "path" for p in operation.get("parameters", [])):
            codes.append("404")
        if self.method in _WRITES:
            codes.append("409")
        if has_body:
            codes += ["413", "415"]
        if self.view.get_throttles():
            codes.append("429")
        return codes

    def _error_response(self, code: str) -> dict[str, Any]:
        description, name = _ERRORS[code]
        schema = ResolvedComponent(  # type: ignore[no-untyped-call]
            name=name, type=ResolvedComponent.SCHEMA, object=name, schema=_BODIES[name]
        )
        self.registry.register_on_missing(schema)
        response: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": schema.ref}}}
        if code == "429":
            response["headers"] = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}}
        return response
