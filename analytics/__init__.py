"""Pure analytics: configuration models, detectors, tracking, zones and rules.

Never imports Django or Celery, so everything here is testable in milliseconds.
"""
