"""Celery glue: the app, tasks, the capture loop and leases (DESIGN §2, §4, §5).

``celery -A workers`` finds ``workers.app``.
"""
from __future__ import annotations

from workers.celery import app

__all__ = ["app"]
