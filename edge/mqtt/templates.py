"""Face templates as the console carries them: base64 float32 vectors, checked before use."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from edge.mqtt.auth import Refused


def decode_templates(values: Any, dimension: int | None) -> list[np.ndarray]:
    if not isinstance(values, list) or not values:
        raise Refused("malformed: args.templates must be a non-empty list of base64 float32 vectors")
    templates = []
    for index, value in enumerate(values):
        try:
            vector = np.frombuffer(base64.b64decode(value, validate=True), dtype=np.float32)
        except (ValueError, TypeError):
            raise Refused(f"malformed: args.templates[{index}] is not base64") from None
        if dimension is not None and vector.size != dimension:
            raise Refused(f"malformed: args.templates[{index}] has {vector.size} values, the model makes {dimension}")
        if not np.isfinite(vector).all() or not vector.any():
            raise Refused(f"malformed: args.templates[{index}] holds NaN, infinity or only zeros")
        templates.append(vector / np.linalg.norm(vector))
    return templates


def encode_template(vector: np.ndarray) -> str:
    return base64.b64encode(np.asarray(vector, dtype=np.float32).tobytes()).decode()
