"""onnxruntime sessions with the gate's execution providers and threading settings."""

from __future__ import annotations

import logging
from pathlib import Path

from edge.errors import ModelError

log = logging.getLogger(__name__)


def create_session(path: Path, *, providers: list[str], threads: int):
    import onnxruntime as ort

    available = set(ort.get_available_providers())
    chosen = [p for p in providers if p in available]
    missing = [p for p in providers if p not in available]
    if missing:
        log.warning("execution providers %s not available here; using %s", missing, chosen or ["CPUExecutionProvider"])
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Spinning threads fight each other when two models run back to back on 2 cores.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), options, providers=chosen or ["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own untyped errors
        raise ModelError(f"model {path} failed to load: {error}") from None
