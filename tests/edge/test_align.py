"""The face crop written here is insightface's own: same transform, same pixels."""

import warnings

import numpy as np

from edge.face.align import ARCFACE_TEMPLATE, norm_crop, similarity


def test_the_crop_matches_insightface_norm_crop():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from insightface.utils.face_align import estimate_norm
        from insightface.utils.face_align import norm_crop as insightface_crop
    rng = np.random.default_rng(5)
    image = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    for _ in range(20):
        angle, scale = rng.uniform(-0.6, 0.6), rng.uniform(0.5, 3.0)
        turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        landmarks = (ARCFACE_TEMPLATE @ turn.T * scale + rng.uniform(50, 300, 2) + rng.normal(0, 2, (5, 2)))
        landmarks = landmarks.astype(np.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected_matrix = estimate_norm(landmarks, 112)
            expected = insightface_crop(image, landmarks, 112)
        assert np.allclose(similarity(landmarks, ARCFACE_TEMPLATE), expected_matrix, atol=1e-6)
        assert np.abs(norm_crop(image, landmarks).astype(int) - expected.astype(int)).max() <= 1


def test_the_template_itself_maps_onto_itself():
    matrix = similarity(ARCFACE_TEMPLATE, ARCFACE_TEMPLATE)
    assert np.allclose(matrix, [[1, 0, 0], [0, 1, 0]], atol=1e-9)
