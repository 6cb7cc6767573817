"""``manage.py build_engine MODEL [--precision fp16|fp32] [--rebuild]``: the TensorRT engine, ahead of time.

Run it on each GPU host (per GPU with ``--device``) after registering a model, so the first
segments are not held up by a build of several minutes. The engine is cached by model hash,
GPU, TensorRT version, precision and batch (analytics.detectors.tensorrt).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from analytics.detectors import ModelSpec
from controlplane.detectors.models import DetectorModel


class Command(BaseCommand):
    help = "Build (or find cached) the TensorRT engine of a registered detector model, with progress."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model", help="The DetectorModel's name (see /api/v1/models/).")
        parser.add_argument("--precision", choices=["fp16", "fp32"], default="fp16")
        parser.add_argument("--device", type=int, default=0, help="CUDA device index.")
        parser.add_argument("--cache-dir", help="Engine cache (default PANOPTES_ENGINE_CACHE or ~/.cache/panoptes/engines).")
        parser.add_argument("--rebuild", action="store_true", help="Build even if a cached engine exists.")

    def handle(self, *args: Any, **options: Any) -> None:
        model = DetectorModel.objects.filter(name=options["model"]).first()
        if model is None:
            raise CommandError(f"no detector model named {options['model']!r}")
        try:
            import tensorrt  # noqa: F401  (the backend imports it lazily; say so before anything starts)

            from analytics.detectors.tensorrt import build_engine
        except ImportError as exc:
            raise CommandError(f"TensorRT is not installed on this host ({exc}); install tensorrt-cu12 and cuda-python") from None
        path = Path(model.onnx_path)
        if not path.is_absolute():
            path = Path(settings.STORAGE_ROOT) / "models" / path
        spec = ModelSpec(str(path), model.input_width, model.input_height, model.class_names, model.sha256,
                         max_batch=settings.DETECT_BATCH)
        with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                      TimeElapsedColumn()) as progress:
            phases: dict[str, TaskID] = {}

            def report(phase: str, parent: str | None, done: int, total: int) -> None:
                if phase not in phases:
                    indent = "  " if parent else ""
                    phases[phase] = progress.add_task(f"{indent}{phase}", total=total)
                progress.update(phases[phase], completed=done, total=total)

            engine = build_engine(spec, options["cache_dir"], options["precision"], report, device=options["device"],
                                  rebuild=options["rebuild"])
        self.stdout.write(f"engine for {model.name} ({options['precision']}): {engine}")
