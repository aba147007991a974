"""Colour-to-thermal registration from matched points."""

import numpy as np
import pytest

from edge.calibration import fit_homography
from edge.errors import ConfigError


def test_a_known_registration_is_recovered_with_its_error():
    truth = np.array([[0.05, 0.001, -2.0], [0.0, 0.05, 1.0], [0.0, 0.0, 1.0]])
    rgb = np.array([[100, 80], [540, 90], [520, 400], [120, 420], [320, 240]], np.float64)
    homogeneous = np.c_[rgb, np.ones(len(rgb))] @ truth.T
    thermal = homogeneous[:, :2] / homogeneous[:, 2:]
    matrix, error = fit_homography(rgb, thermal)
    assert np.allclose(matrix, truth, atol=1e-6) and error < 1e-6


def test_too_few_or_degenerate_points_are_refused_with_the_fix():
    with pytest.raises(ConfigError, match="at least 4 matched points, got 3"):
        fit_homography(np.zeros((3, 2)), np.zeros((3, 2)))
    line = np.array([[0, 0], [1, 1], [2, 2], [3, 3]], np.float64)
    with pytest.raises(ConfigError, match="degenerate"):
        fit_homography(line, line)
