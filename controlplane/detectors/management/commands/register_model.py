"""``manage.py register_model NAME PATH.onnx --classes classes.txt [--input 416x416] [--default]``.

Registers any ONNX detector that follows the YOLOX contract (assets/README.md): letterboxed BGR
input, output [N, anchors, 5 + classes] with strides 8/16/32. ``--assets`` registers the shared
assets' YOLOX-Nano instead.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from controlplane.detectors.actions import read_class_names, register, register_assets_model
from controlplane.detectors.models import DetectorModel, resolve_model_path


class Command(BaseCommand):
    help = "Register an ONNX detector model (or the shared assets' YOLOX-Nano with --assets)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", nargs="?")
        parser.add_argument("path", nargs="?", help="The .onnx file (under STORAGE_ROOT/models or the assets' models).")
        parser.add_argument("--classes", help="A text file with one class name per line, in output order.")
        parser.add_argument("--input", default="416x416", help="Input WIDTHxHEIGHT (default 416x416).")
        parser.add_argument("--default", action="store_true", help="Make it the default model.")
        parser.add_argument("--assets", action="store_true", help="Register the shared assets' YOLOX-Nano.")

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        if options["assets"]:
            row = register_assets_model(DetectorModel, settings.PANOPTES_ASSETS)
            if row is None:
                raise CommandError(f"no YOLOX-Nano under {settings.PANOPTES_ASSETS}/models (set PANOPTES_ASSETS)")
        else:
            if not (options["name"] and options["path"] and options["classes"]):
                raise CommandError("give NAME, PATH and --classes (or --assets)")
            try:
                width, height = (int(v) for v in options["input"].lower().split("x"))
                path = resolve_model_path(options["path"])
            except ValueError:
                raise CommandError("--input must look like 416x416") from None
            except ValidationError as exc:
                raise CommandError("; ".join(exc.messages)) from None
            row = register(DetectorModel, name=options["name"], onnx_path=path, width=width, height=height,
                           class_names=read_class_names(Path(options["classes"])), default=options["default"])
        # register() writes with update(); save once so the change is versioned and published.
        DetectorModel.objects.get(pk=row.pk).save()
        self.stdout.write(f"registered {row.name} ({row.sha256[:12]}, {row.input_width}x{row.input_height}, "
                          f"{len(row.class_names)} classes){' as default' if row.is_default else ''}")
