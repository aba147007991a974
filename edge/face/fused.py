"""Each resident's enrolment photos searched as one template too: their normalised mean.

The mean of several photos of a face is a better likeness of the next photo than any one of them.
Searched beside the photos (`face.fused_template`), it costs what one more template costs: the
operating point counts it and the threshold rises. It still refuses fewer residents, and lets in
no more strangers: measured by bench/face_returning.py, figures in docs/face.md ("A resident's
photos searched together too").

Derived, never stored: the gallery's owner adds it each time it reads the store, so it follows
every change of the photos it comes from. Only enrolment photos are fused (not templates learned
from visits, nor "not this person" ones), and only where a resident has two or more. Its id is
negative and names the photos it was made from, the newest photo's id and their count: any change
of them is a new id (ids only grow), which the pair statistics take as one template out and one in.
"""

from __future__ import annotations

import numpy as np

from edge.store import Gallery

FUSED_FROM = 2  # enrolment photos a resident needs before their mean is searched too
COUNT_SPAN = 1024  # a fused id is -(newest photo id x COUNT_SPAN + photos): unique while a resident has fewer


def with_fused(gallery: Gallery) -> Gallery:
    """`gallery` with each resident's fused template added (any it held already are made again). O(templates)."""
    embeddings, owners, negative = gallery.embeddings, gallery.owners, gallery.negative
    adaptive = gallery.adaptive if gallery.adaptive is not None else np.zeros(len(owners), bool)
    ids = gallery.ids
    if ids is not None and (ids < 0).any():  # read again from a gallery that held them: made anew
        stored = ids >= 0
        embeddings, owners, negative, adaptive, ids = (embeddings[stored], owners[stored], negative[stored],
                                                       adaptive[stored], ids[stored])
    rows = np.flatnonzero(~negative & ~adaptive)
    rows = rows[np.argsort(owners[rows], kind="stable")]
    fused_owners, starts, counts = np.unique(owners[rows], return_index=True, return_counts=True)
    kept = np.flatnonzero(counts >= FUSED_FROM)
    if not len(kept):
        return _gallery(gallery, embeddings, owners, negative, adaptive, ids)
    sums = np.empty((len(kept), embeddings.shape[1]), np.float32)
    for size in np.unique(counts[kept]):  # residents with as many photos at once: a few sizes, not a loop a resident
        chosen = np.flatnonzero(counts[kept] == size)
        members = rows[starts[kept[chosen]][:, None] + np.arange(size)]
        sums[chosen] = embeddings[members].sum(axis=1)
    means = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    if ids is not None:
        newest = np.maximum.reduceat(ids[rows], starts)[kept]
        ids = np.concatenate([ids, -(newest * COUNT_SPAN + np.minimum(counts[kept], COUNT_SPAN - 1))])
    count = len(kept)
    return _gallery(gallery, np.vstack([embeddings, means]), np.concatenate([owners, fused_owners[kept]]),
                    np.concatenate([negative, np.zeros(count, bool)]), np.concatenate([adaptive, np.zeros(count, bool)]),
                    ids)


def _gallery(like: Gallery, embeddings, owners, negative, adaptive, ids) -> Gallery:
    return Gallery(embeddings, owners, negative, like.names, like.version, adaptive, ids, like.units, like.groups)
