from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from controlplane.core.actor import acting_as


class ActorMiddleware:
    """Makes the logged-in user the author of configuration changes made during the request.

    API requests authenticated by token are handled in ``PanoptesViewSet.initial`` because DRF
    authenticates inside the view. ``X-Change-Comment`` sets the revision comment.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user if request.user.is_authenticated else None
        with acting_as(user, request.headers.get("X-Change-Comment", "")[:200]):
            return self.get_response(request)
