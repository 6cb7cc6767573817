"""Static checks the house style asks for: mypy (strict, django-stubs) and ruff, on the whole tree."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def test_the_code_type_checks_with_mypy() -> None:
    result = subprocess.run(
        [str(BIN / "mypy"), "--config-file", ".ci/mypy.ini", "controlplane", "analytics", "workers", "manage.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-5000:]


def test_the_code_passes_ruff() -> None:
    result = subprocess.run(
        [str(BIN / "ruff"), "check", "--config", ".ci/ruff.toml", "controlplane", "analytics", "workers", "tests", "bench", "manage.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout[-5000:]


def test_analytics_imports_neither_django_nor_celery() -> None:
    code = (
        "import importlib, pkgutil, sys, analytics\n"
        "for m in pkgutil.walk_packages(analytics.__path__, 'analytics.'): importlib.import_module(m.name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'celery'))\n"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
