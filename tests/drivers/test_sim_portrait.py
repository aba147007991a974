import tracemalloc

import numpy as np

from drivers.sim.portrait import Portrait, guess_location


def _portrait() -> Portrait:
    photo = np.random.default_rng(1).integers(0, 255, (480, 360, 3), dtype=np.uint8)
    return Portrait.from_photo(photo, guess_location(photo))


def test_someone_standing_still_is_drawn_from_the_same_scaled_copy():
    portrait = _portrait()
    first, _ = portrait.scaled(120.0)
    assert portrait.scaled(120.4)[0] is first  # within the same 2 % step


def test_walking_a_face_through_every_scale_keeps_only_a_few_copies():
    portrait = _portrait()
    one_copy = portrait.scaled(400.0)[0].nbytes
    tracemalloc.start()
    try:
        for width in np.geomspace(20.0, 400.0, 150):  # a walk asks for a new scale nearly every frame
            portrait.scaled(float(width))
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held < 6 * one_copy  # keeping every scale would hold dozens
