"""The core app has no tables of its own: roles are Django groups (controlplane.core.roles), and
API tokens are DRF's, shown in the admin through a proxy that never shows their key."""
from __future__ import annotations

from rest_framework.authtoken.models import TokenProxy


def masked_key(key: str) -> str:
    """A token's first 6 characters: enough to tell tokens apart, nothing to guess 40 from."""
    return f"{key[:6]}…" if key else "-"


class ApiToken(TokenProxy):
    """An API token as the admin shows it (list, titles, history, messages): a masked prefix.

    The key is shown once, when the token is made (the admin's add page, or POST
    /api/v1/auth/token/ to its owner); after that nobody can read it (DESIGN §11).
    """

    class Meta:
        proxy = True
        verbose_name = "API token"
        verbose_name_plural = "API tokens"

    def __str__(self) -> str:
        return masked_key(self.key)
