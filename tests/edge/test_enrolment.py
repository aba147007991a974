"""Enrolment review: lookalikes are named, ambiguous templates refused, nothing partial stored."""

import numpy as np
import pytest

from edge.errors import EnrolmentError
from edge.face.enrolment import DuplicateEnrolment, one_person, review
from edge.face.matcher import Matcher
from edge.store import Gallery


def unit(*values):
    vector = np.array(values, np.float32)
    return vector / np.linalg.norm(vector)


def matcher_with(*residents):
    embeddings = np.stack([v for _, v in residents])
    owners = np.arange(1, len(residents) + 1)
    names = {int(o): name for o, (name, _) in zip(owners, residents)}
    return Matcher(Gallery(embeddings, owners, np.zeros(len(owners), bool), names, 1), threshold=0.5, margin=0.05)


def test_someone_already_enrolled_is_refused_naming_them_and_a_declared_twin_is_kept():
    matcher = matcher_with(("Alice", unit(1, 0, 0)), ("Bob", unit(0, 1, 0)))
    with pytest.raises(DuplicateEnrolment, match="^already enrolled as resident 1 Alice") as refused:
        review(matcher, [unit(0.9, 0.1, 0.3)], ["new.jpg"])
    assert refused.value.resident_id == 1
    twin = review(matcher, [unit(0.9, 0.1, 0.3)], ["new.jpg"], lookalike_of=(1,))
    assert twin.kept == [0] and [(look.resident_id, look.name) for look in twin.lookalikes] == [(1, "Alice")]
    assert "Alice" in twin.warnings[0]
    with pytest.raises(DuplicateEnrolment, match="resident 2 Bob"):  # naming one twin does not let in another
        review(matcher, [unit(0.2, 0.9, 0.3)], ["b.jpg"], lookalike_of=(1,))


def test_photos_that_each_fall_short_but_together_are_a_resident_are_a_duplicate():
    matcher = matcher_with(("Alice", unit(1, 0, 0, 0)), ("Bob", unit(0, 1, 0, 0)))
    photos = [unit(0.4, 0, 0.9165, 0), unit(0.4, 0, 0, 0.9165)]  # 0.40 each against Alice, under the 0.45 floor
    with pytest.raises(DuplicateEnrolment, match="^already enrolled as resident 1 Alice"):
        review(matcher, photos, ["a.jpg", "b.jpg"])
    twin = review(matcher, photos, ["a.jpg", "b.jpg"], lookalike_of=(1,))
    assert twin.kept == [0, 1] and [look.resident_id for look in twin.lookalikes] == [1]
    newcomer = [unit(0.2, 0, 0.98, 0), unit(0.2, 0, 0.9, 0.39)]  # together still far from everyone
    assert review(matcher, newcomer, ["c.jpg", "d.jpg"]).kept == [0, 1]


def test_a_burst_that_mixes_two_people_is_told_apart_from_one_person():
    assert one_person([unit(1, 0, 0), unit(0.95, 0.05, 0.1), unit(0.97, 0.0, 0.1)], 0.5)
    assert not one_person([unit(1, 0, 0), unit(0.95, 0.05, 0.1), unit(0, 1, 0)], 0.5)
    assert one_person([unit(1, 0, 0)], 0.5)


def test_a_template_closer_to_someone_else_than_to_its_own_person_is_refused():
    matcher = matcher_with(("Alice", unit(1, 0, 0)), ("Bob", unit(0, 1, 0)))
    own = unit(0, 0.2, 1)
    confusing = unit(1, 0, 0.3)  # far more Alice than the new person's other photo
    checked = review(matcher, [own, confusing], ["a.jpg", "b.jpg"])
    assert checked.kept == [0]
    assert "b.jpg: closer to resident 1 Alice" in checked.refused[0]


def test_more_photos_for_a_resident_are_checked_against_their_own_templates():
    matcher = matcher_with(("Alice", unit(1, 0, 0)), ("Bob", unit(0, 1, 0)))
    checked = review(matcher, [unit(0.95, 0.05, 0.1)], ["again.jpg"], resident_id=1)
    assert checked.kept == [0] and checked.lookalikes == []
    with pytest.raises(EnrolmentError, match="closer to resident 2 Bob"):
        review(matcher, [unit(0.1, 1, 0)], ["wrong.jpg"], resident_id=1)


def test_the_first_resident_of_an_empty_gallery_is_simply_kept():
    empty = Matcher(Gallery(np.zeros((0, 0), np.float32), np.zeros(0, np.int64), np.zeros(0, bool), {}, 0),
                    threshold=0.5, margin=0.05)
    assert review(empty, [unit(1, 0, 0)], ["a.jpg"]).kept == [0]
