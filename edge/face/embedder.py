"""Face embedders: SFace (default) and ArcFace from an insightface pack.

Both take the 112x112 crop of edge/face/align.py (insightface's `norm_crop`). SFace normalises inside its graph
(RGB 0-255 in); ArcFace packs want (x - 127.5) / 127.5. The preprocessing is chosen by the
model named in the manifest, never guessed from tensor shapes.
"""

from __future__ import annotations

import numpy as np

CROP_SIZE = 112


class Embedder:
    def __init__(self, session, *, mean: float, std: float) -> None:
        self.session = session
        self.input_name = session.get_inputs()[0].name
        self.output_name = session.get_outputs()[0].name
        self.mean, self.std = mean, std
        self.dimension = int(session.get_outputs()[0].shape[-1])

    def embed(self, crops: list[np.ndarray]) -> np.ndarray:
        """L2-normalised embeddings (n, d) of BGR 112x112 crops."""
        batch = np.stack([crop[:, :, ::-1] for crop in crops]).astype(np.float32).transpose(0, 3, 1, 2)
        if self.mean or self.std != 1.0:
            batch = (batch - self.mean) / self.std
        batch = np.ascontiguousarray(batch)
        if self.session.get_inputs()[0].shape[0] == 1:  # fixed batch of one
            outputs = np.concatenate([self.session.run([self.output_name], {self.input_name: item[None]})[0]
                                      for item in batch])
        else:
            outputs = self.session.run([self.output_name], {self.input_name: batch})[0]
        norms = np.linalg.norm(outputs, axis=1, keepdims=True)
        return (outputs / np.maximum(norms, 1e-12)).astype(np.float32)


def sface(session) -> Embedder:
    return Embedder(session, mean=0.0, std=1.0)


def arcface(session) -> Embedder:
    return Embedder(session, mean=127.5, std=127.5)
