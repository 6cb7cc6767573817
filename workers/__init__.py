"""Celery glue: the app, tasks, the capture loop and leases (grows with the capture issue)."""
