"""The core app has no tables of its own: roles are Django groups (see migrations)."""
