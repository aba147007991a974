"""Random face templates for tests that need a gallery's shape, not a face."""

import numpy as np


def unit(rng: np.random.Generator, count: int, dimension: int = 32) -> np.ndarray:
    """`count` random directions of `dimension` numbers, each of length one, as the embedder's templates are."""
    vectors = rng.normal(size=(count, dimension)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
