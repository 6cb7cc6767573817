from __future__ import annotations

from controlplane.core.api import CleanModelSerializer
from controlplane.detectors.models import DetectorModel


class DetectorModelSerializer(CleanModelSerializer):
    class Meta:
        model = DetectorModel
        fields = ["id", "name", "onnx_path", "sha256", "input_width", "input_height", "class_names", "is_default", "created_at"]
        read_only_fields = ["created_at"]
