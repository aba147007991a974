"""The face check's operating point: derived from a false-accept target and the gate's own scores."""

import math
from statistics import NormalDist

import numpy as np
import pytest

from edge.config import FaceConfig
from edge.face.gallery import build_matcher
from edge.face.operating_point import PairLaw, operating_point
from edge.face.pair_statistics import pair_scores
from edge.store import Gallery

# a law under which any measured gallery sets a higher threshold, so the gallery's own estimate decides
LOW_DEFAULT = PairLaw(t1=0.1, share1=1e-2, t2=0.2, share2=1e-5)


def random_gallery(residents: int, *, seed: int = 1, dimension: int = 128, lookalike_pairs: int = 0,
                   lookalike_cosine: float = 0.7) -> Gallery:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(residents, dimension)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for pair in range(lookalike_pairs):
        a, b = 2 * pair, 2 * pair + 1
        noise = vectors[b] - (vectors[b] @ vectors[a]) * vectors[a]
        noise /= np.linalg.norm(noise)
        vectors[b] = lookalike_cosine * vectors[a] + math.sqrt(1 - lookalike_cosine ** 2) * noise
    owners = np.arange(1, residents + 1)
    return Gallery(vectors, owners, np.zeros(residents, bool), {int(o): f"r{o}" for o in owners}, 1)


def test_pair_law_round_trips_and_a_larger_gallery_lets_in_more():
    law = PairLaw(t1=0.28, share1=1e-2, t2=0.46, share2=1e-5)
    assert law.pair_share(0.28) == pytest.approx(1e-2, rel=1e-6)
    assert law.pair_share(0.46) == pytest.approx(1e-5, rel=1e-6)
    threshold = law.threshold_for(1e-4, 500)
    assert law.fpir(threshold, 500) == pytest.approx(1e-4, rel=1e-6)
    assert law.fpir(threshold, 5000) > 9e-4
    assert law.threshold_for(1e-4, 5000) > threshold


def test_the_gallery_law_matches_a_gaussian_population():
    """Random 128-d faces score N(0, 1/128) against each other: the fitted law must predict that tail."""
    gallery = random_gallery(600)
    law = pair_scores(gallery).law()
    assert law is not None
    sigma = 1 / math.sqrt(128)
    for share in (1e-5, 1e-7):
        exact = sigma * NormalDist().inv_cdf(1 - share)
        assert law.score_at(share) == pytest.approx(exact, abs=0.02)


def test_each_pair_of_residents_is_counted_once_and_never_a_resident_with_themselves():
    gallery = random_gallery(40)
    doubled = Gallery(np.concatenate([gallery.embeddings, gallery.embeddings]),
                      np.concatenate([gallery.owners, gallery.owners]), np.zeros(80, bool), gallery.names, 1)
    scores = pair_scores(doubled)
    assert scores.pairs == 80 * 78 // 2  # 80 templates, each with the 78 of the other 39 residents
    assert (scores.best < 0.99).all() and (scores.closest != scores.owners).all()


def test_planted_lookalikes_raise_the_threshold():
    """A population whose people resemble each other (here a fifth of them in close pairs) needs a higher one."""
    clean = operating_point(pair_scores(random_gallery(500)), target_fpir=1e-4, default=LOW_DEFAULT)
    planted = operating_point(pair_scores(random_gallery(500, lookalike_pairs=50)), target_fpir=1e-4, default=LOW_DEFAULT)
    assert clean.source == "gallery" and planted.source == "lookalikes"
    assert planted.threshold > clean.threshold + 0.2
    assert planted.threshold >= 0.69  # above all but a few of the planted pairs


def test_a_stricter_target_raises_the_threshold():
    gallery = random_gallery(500)
    loose = operating_point(pair_scores(gallery), target_fpir=1e-2, default=LOW_DEFAULT)
    strict = operating_point(pair_scores(gallery), target_fpir=1e-4, default=LOW_DEFAULT)
    assert strict.threshold > loose.threshold
    assert strict.estimated_fpir == pytest.approx(1e-4, rel=1e-3)
    assert strict.pairs == 500 * 499 // 2 and strict.gallery_weight == 1.0


def test_too_few_residents_use_the_shipped_default():
    default = PairLaw(t1=0.28, share1=1e-2, t2=0.46, share2=1e-5)
    point = operating_point(pair_scores(random_gallery(100)), target_fpir=1e-4, default=default)  # 4,950 pairs
    assert point.source == "default" and point.pairs == 0
    assert point.threshold == pytest.approx(default.threshold_for(1e-4, 100))


def test_visit_scores_through_the_camera_can_only_raise_the_threshold():
    gallery = random_gallery(500)
    without = operating_point(pair_scores(gallery), target_fpir=1e-4, default=LOW_DEFAULT)
    law = pair_scores(gallery).law()
    typical = law.best_of(499)  # a stranger's median best score against 499 residents, as the law predicts
    rng = np.random.default_rng(5)
    alike = [(typical + 0.05 + float(e), 500) for e in rng.normal(0, 0.01, 200)]  # this camera: 0.05 higher
    with_visits = operating_point(pair_scores(gallery), target_fpir=1e-4, default=LOW_DEFAULT, visit_scores=alike)
    assert with_visits.source == "visits" and with_visits.visit_samples == 200
    assert with_visits.threshold == pytest.approx(without.threshold + 0.05, abs=0.01)
    as_predicted = [(typical + float(e), 500) for e in rng.normal(0, 0.01, 200)]
    assert operating_point(pair_scores(gallery), target_fpir=1e-4, default=LOW_DEFAULT,
                           visit_scores=as_predicted).threshold == pytest.approx(without.threshold, abs=0.005)


def test_the_shipped_law_hands_over_to_the_gallerys_by_degrees_not_at_a_jump():
    """Where the gallery first counted enough pairs its two tail points nearly coincide: the threshold swung
    0.46-0.57 between draws of one size. It now moves from the shipped law's to the gallery's over a decade."""
    shipped = PairLaw(t1=0.3, share1=1e-2, t2=0.5, share2=1e-5)
    thresholds = []
    for residents in range(130, 480, 10):
        point = operating_point(pair_scores(random_gallery(residents, seed=residents)), target_fpir=1e-4, default=shipped)
        thresholds.append((point.gallery_weight, point.threshold))
        assert point.fpir_low <= point.estimated_fpir <= point.fpir_high
    weights = [w for w, _ in thresholds]
    assert weights[0] == 0.0 and weights[-1] == 1.0 and weights == sorted(weights)
    steps = np.abs(np.diff([t for _, t in thresholds]))
    assert steps.max() <= 0.03, steps


def test_the_estimate_carries_a_range_from_the_tail_count():
    point = operating_point(pair_scores(random_gallery(500)), target_fpir=1e-4, default=LOW_DEFAULT)
    assert point.fpir_low < 1e-4 < point.fpir_high < 1e-3
    assert set(point.as_dict()) >= {"fpir_low", "fpir_high", "gallery_weight"}


def test_a_fixed_threshold_in_the_config_is_used_as_it_is():
    matcher = build_matcher(random_gallery(50), FaceConfig(match_threshold=0.5))
    assert matcher.threshold == 0.5 and matcher.point.source == "fixed"
    assert matcher.point.as_dict()["estimated_fpir"] is None


def test_one_duplicate_enrolment_does_not_drag_the_threshold_up_for_everyone():
    clean = operating_point(pair_scores(random_gallery(300)), target_fpir=1e-4, default=LOW_DEFAULT)
    twins = operating_point(pair_scores(random_gallery(300, lookalike_pairs=2, lookalike_cosine=0.95)), target_fpir=1e-4,
                            default=LOW_DEFAULT)
    assert twins.threshold - clean.threshold < 0.03  # a mean-and-spread fit moves it by over 0.1


def test_lookalike_pairs_are_found_and_held_to_the_stricter_margin():
    gallery = random_gallery(100, lookalike_pairs=1, lookalike_cosine=0.8)
    config = FaceConfig(max_false_accept=1e-4, match_margin=0.05, lookalike_margin=0.15)
    matcher = build_matcher(gallery, config)
    assert frozenset((1, 2)) in matcher.lookalikes
    a, b = gallery.embeddings[0], gallery.embeddings[1]
    # a face a little closer to resident 1 than to 2: beyond the ordinary margin, within the lookalike one
    probe = 0.8 * a + 0.2 * b
    probe /= np.linalg.norm(probe)
    scores = gallery.embeddings[:2] @ probe
    assert 0.05 < scores[0] - scores[1] < 0.15 and scores[0] > matcher.threshold
    assert matcher.search(probe).reason == "ambiguous between residents"
    ordinary = build_matcher(gallery, config.model_copy(update={"lookalike_margin": 0.05}))
    assert ordinary.search(probe).resident_id == 1


def test_strangers_through_the_camera_scoring_low_never_lower_the_threshold_below_the_lookalike_floor():
    gallery = random_gallery(500, lookalike_pairs=40)
    without = operating_point(pair_scores(gallery), target_fpir=1e-4, default=LOW_DEFAULT)
    assert without.source == "lookalikes"
    law = pair_scores(gallery).law()
    low = [(law.best_of(499) - 0.2, 500)] * 100  # this camera's strangers score far below the law
    with_visits = operating_point(pair_scores(gallery), target_fpir=1e-4, default=LOW_DEFAULT, visit_scores=low)
    assert with_visits.threshold == pytest.approx(without.threshold)


def test_the_lower_tail_point_sits_where_its_pairs_are_counted_on_a_heavy_tailed_population():
    """Only a Gaussian population was tested: a fit through a lower point at the wrong depth agreed with it anyway.
    On a heavier tail (students-t like), the two points must be where the measured shares are."""
    rng = np.random.default_rng(8)
    vectors = rng.standard_t(4, size=(600, 64)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    owners = np.arange(1, 601)
    gallery = Gallery(vectors, owners, np.zeros(600, bool), {int(o): str(o) for o in owners}, 1)
    scores = pair_scores(gallery)
    law = scores.law()
    assert law.share1 == pytest.approx(1e-2, rel=0.05)
    assert law.share2 == pytest.approx(scores.lower_share, rel=0.1)
    assert scores.share_at_least(law.t2) == pytest.approx(law.share2, rel=1e-6)
    assert scores.lower_share == pytest.approx(1e-3)


def test_a_pair_just_below_the_threshold_is_held_to_the_stricter_margin():
    """A photo of one of two residents who score 0.45 against each other (threshold 0.5) can clear the threshold on
    the other: such a pair is held to `lookalike_margin`, not only pairs above the threshold."""
    gallery = random_gallery(40, lookalike_pairs=1, lookalike_cosine=0.45)
    config = FaceConfig(match_threshold=0.5, match_margin=0.05, lookalike_margin=0.10)
    matcher = build_matcher(gallery, config)
    assert frozenset((1, 2)) in matcher.lookalikes
    a, b = gallery.embeddings[0], gallery.embeddings[1]
    side = b - (b @ a) * a
    probe = 0.74 * a + 0.377 * side / np.linalg.norm(side)  # about 0.89 on resident 1 and 0.81 on resident 2
    probe /= np.linalg.norm(probe)
    scores = matcher.scores_by_resident(probe)
    assert scores[1] - scores[2] < 0.10 and scores[1] - scores[2] > 0.05
    assert matcher.search(probe).reason == "ambiguous between residents"
