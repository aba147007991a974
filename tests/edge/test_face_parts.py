"""The face pipeline's parts on the real default models: sessions, the embedder, the stage."""

import logging

import numpy as np
import pytest

from drivers.camera import Frame
from edge.errors import ModelError
from edge.face.embedder import CROP_SIZE, sface
from edge.face.runtime import create_session
from edge.stages.base import FrameContext
from edge.stages.face import FaceStage
from models.fetch import verify_pack


@pytest.fixture(scope="module")
def embedder_path():
    return verify_pack("default")["embedder"]


def test_a_missing_model_is_named(tmp_path):
    with pytest.raises(ModelError, match="gone.onnx failed to load"):
        create_session(tmp_path / "gone.onnx", providers=["CPUExecutionProvider"], threads=1)


def test_a_provider_this_machine_lacks_is_said_and_the_cpu_used(embedder_path, caplog):
    with caplog.at_level(logging.WARNING):
        session = create_session(embedder_path, providers=["TensorrtExecutionProvider"], threads=1)
    assert session.get_providers() == ["CPUExecutionProvider"]
    assert "TensorrtExecutionProvider" in caplog.text


def test_embeddings_are_unit_length_and_independent_of_the_batch(embedder_path):
    embedder = sface(create_session(embedder_path, providers=["CPUExecutionProvider"], threads=1))
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 255, (CROP_SIZE, CROP_SIZE, 3), dtype=np.uint8) for _ in range(2)]
    together = embedder.embed(crops)
    assert together.shape == (2, embedder.dimension) and embedder.dimension == 128
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    assert np.allclose(embedder.embed(crops[1:]), together[1:], atol=1e-4)


def test_the_face_stage_puts_its_result_and_timings_on_the_frame(engine_factory, empty_gallery):
    stage = FaceStage(engine_factory(empty_gallery))
    context = FrameContext(frame=Frame(image=np.zeros((480, 640, 3), np.uint8), time=0.0, index=0), now=0.0)
    stage.process(context)
    assert context.face is not None and context.face.faces == []
    assert "face.detect" in context.stage_ms
