"""The operating point's arithmetic at its edges: each rule stated on a population built bin by bin."""

import math

import numpy as np
import pytest

from edge.face.operating_point import (BINS, KTH_PAIR, MIN_PAIRS, MIN_VISITS, PairLaw, PairScores, camera_shift,
                                       fixed, operating_point)

SHIPPED = PairLaw(t1=0.3, share1=1e-2, t2=0.5, share2=1e-5)
LOW_DEFAULT = PairLaw(t1=0.1, share1=1e-2, t2=0.2, share2=1e-5)


def bin_of(score: float) -> int:
    return int(np.searchsorted(BINS, score, side="right")) - 1


def population(pairs: int, *, templates: int = 300, top: list[float] | None = None, seed: int = 3) -> PairScores:
    """`pairs` pair scores drawn N(0, 0.09), counted into the gate's bins, for `templates` one-photo residents."""
    scores = np.random.default_rng(seed).normal(0.0, 0.09, pairs)
    histogram = np.bincount([bin_of(s) for s in scores], minlength=len(BINS) - 1)
    highest = np.sort(scores)[::-1][:KTH_PAIR] if top is None else np.array(top)
    owners = np.arange(1, templates + 1)
    return PairScores(owners, np.zeros(templates), owners[::-1].copy(), histogram, highest)


def counted(bins: dict[int, int], *, templates: int = 2) -> PairScores:
    histogram = np.zeros(len(BINS) - 1, int)
    for index, count in bins.items():
        histogram[index] = count
    owners = np.arange(1, templates + 1)
    return PairScores(owners, np.zeros(templates), owners[::-1].copy(), histogram, np.array([]))


def test_a_share_counts_the_bin_the_score_falls_in_and_every_bin_above():
    scores = counted({0: 1, 1999: 2, 2000: 3, 3999: 4})
    assert scores.share_at_least(BINS[2000]) == pytest.approx(7 / 10)  # a score on a bin's edge is in that bin
    assert scores.share_at_least(BINS[2000] - 1e-4) == pytest.approx(9 / 10)
    assert scores.share_at_least(-1.0) == pytest.approx(1.0)  # the lowest bin counts too
    assert counted({5: 1}).share_at_least(-1.0) == 1.0  # one pair is all of them


def test_the_score_a_share_reaches_is_the_highest_bin_with_that_many_pairs_at_or_above_it():
    scores = counted({100: 98, 3000: 1, 3500: 1})
    assert scores.score_at(0.01) == pytest.approx(BINS[3500])  # exactly 1 pair in 100 at or above it
    assert scores.score_at(0.02) == pytest.approx(BINS[3000])


def test_a_law_needs_ten_thousand_pairs_and_two_distinct_tail_points():
    assert population(MIN_PAIRS + 2_000).law() is not None
    assert population(MIN_PAIRS).law() is None  # both tail points at 1 %: they coincide
    everyone_alike = counted({2500: MIN_PAIRS * 2})
    assert everyone_alike.law() is None


def test_the_lower_tail_points_share_moves_by_its_scale():
    scores = population(40_000)
    assert scores.law(lower_scale=2.0).share2 == pytest.approx(2.0 * scores.law().share2)


def test_shares_beyond_a_half_read_as_a_half_and_certain_acceptance_stays_finite():
    law = SHIPPED
    assert law.score_at(0.9) == pytest.approx(law.score_at(0.5))
    assert law.fpir(-1.0, 10) == pytest.approx(1.0)
    assert law.threshold_for(1e-3, 1) == pytest.approx(law.score_at(1e-3))
    assert law.best_of(1) == pytest.approx(law.score_at(0.5))  # the median of one stranger's score
    assert law.best_of(100) == pytest.approx(law.score_at(-math.expm1(math.log(0.5) / 100)))


def test_the_camera_shift_compares_each_visit_with_the_best_of_the_other_residents_templates():
    visits = [(0.6, 11), (0.7, 21)]
    expected = np.median([0.6 - SHIPPED.best_of(30), 0.7 - SHIPPED.best_of(60)])
    assert camera_shift(visits, SHIPPED, 3.0) == pytest.approx(expected)


def test_a_fixed_threshold_states_that_nothing_was_estimated():
    assert fixed(0.12345678, 12).as_dict() == {
        "threshold": 0.123457, "estimated_fpir": None, "target_fpir": None, "residents": 12, "templates": 0,
        "source": "fixed", "pairs": 0, "visit_samples": 0, "fpir_low": None, "fpir_high": None,
        "gallery_weight": 0.0}


def test_the_estimates_range_spans_both_laws_and_the_tail_counts_two_standard_errors():
    scores = population(30_000)  # lower point at 1/300: the gallery trusted by log10(3)
    point = operating_point(scores, target_fpir=1e-4, default=SHIPPED)
    law = scores.law()
    assert point.source == "blended" and point.gallery_weight == 0.477
    assert point.target_fpir == 1e-4 and point.residents == 300 and point.templates == 300
    assert point.pairs == 30_000
    tail = 2.0 / math.sqrt(100)
    candidates = [SHIPPED, law, scores.law(lower_scale=1 - tail), scores.law(lower_scale=1 + tail)]
    estimates = [candidate.fpir(point.threshold, 300) for candidate in candidates]
    assert point.fpir_low == pytest.approx(min(estimates), rel=1e-9)
    assert point.fpir_high == pytest.approx(max(estimates), rel=1e-9)
    assert point.estimated_fpir == pytest.approx(law.fpir(point.threshold, 300), rel=1e-9)


def test_enough_pairs_without_a_law_keep_the_shipped_one_whole():
    everyone_alike = counted({2500: MIN_PAIRS * 2}, templates=200)
    point = operating_point(everyone_alike, target_fpir=1e-4, default=SHIPPED)
    assert point.source == "default" and point.gallery_weight == 0.0 and point.pairs == 0
    assert point.threshold == pytest.approx(SHIPPED.threshold_for(1e-4, 200))
    one = operating_point(counted({}, templates=1), target_fpir=1e-4, default=SHIPPED)
    assert one.templates == 1 and one.threshold == pytest.approx(SHIPPED.threshold_for(1e-4, 1))


def test_the_tenth_highest_pair_is_the_floor():
    top = [0.99, 0.98, 0.97, 0.96, 0.95, 0.94, 0.93, 0.92, 0.91, 0.90]
    point = operating_point(population(200_000, top=top), target_fpir=1e-4, default=LOW_DEFAULT)
    assert point.source == "lookalikes" and point.threshold == pytest.approx(0.90)


def test_thirty_visits_seen_by_two_residents_or_more_move_the_threshold():
    scores = population(200_000)
    law = scores.law()
    high = [(law.best_of(299) + 0.1, 2)] * MIN_VISITS
    point = operating_point(scores, target_fpir=1e-4, default=LOW_DEFAULT, visit_scores=high)
    derived = law.threshold_for(1e-4, 300)
    assert point.source == "visits" and point.visit_samples == MIN_VISITS
    assert point.threshold > derived + 0.05
    fewer = operating_point(scores, target_fpir=1e-4, default=LOW_DEFAULT, visit_scores=high[1:])
    assert fewer.source == "gallery" and fewer.threshold == pytest.approx(derived)


def test_a_small_camera_shift_never_pulls_the_threshold_below_the_lookalike_floor():
    scores = population(200_000, top=[0.9] * KTH_PAIR)
    law = scores.law()
    slightly_high = [(law.best_of(299) + 0.02, 300)] * 50
    point = operating_point(scores, target_fpir=1e-4, default=LOW_DEFAULT, visit_scores=slightly_high)
    assert point.source == "lookalikes" and point.threshold == pytest.approx(0.9)


def test_a_tenth_highest_pair_below_the_derived_threshold_leaves_it_alone():
    nine_twins = [0.99] * (KTH_PAIR - 1) + [0.40]
    point = operating_point(population(200_000, top=nine_twins), target_fpir=1e-4, default=LOW_DEFAULT)
    assert point.source == "gallery" and point.threshold > 0.40
