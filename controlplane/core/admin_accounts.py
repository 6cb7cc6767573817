"""The admin's accounts: the login form behind the login throttle (DESIGN §11).

Imported by controlplane.core.admin (Django discovers only ``admin.py``).
"""
from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError

from controlplane.core.throttling import locked_for, lockout_message


class ThrottledAdminAuthenticationForm(AdminAuthenticationForm):
    """The admin login form; a locked-out user name or address is told so, and for how long."""

    def clean(self) -> dict[str, Any]:
        try:
            return super().clean()
        except ValidationError:
            wait = locked_for(self.request)
            if wait:
                raise ValidationError(lockout_message(wait), code="locked") from None
            raise


admin.site.login_form = ThrottledAdminAuthenticationForm
