"""The rubric is consistent: ids unique, points add to 100, every check has a probe and a target."""

from grader import rubric


def test_points_add_up_to_100():
    assert rubric.MAX_SCORE == 100
    assert all(c.points > 0 for c in rubric.CHECKS)


def test_ids_unique_and_prefixed_by_target_or_train():
    ids = [c.id for c in rubric.CHECKS]
    assert len(ids) == len(set(ids))
    for c in rubric.CHECKS:
        if c.target in rubric.STUDENT_FUNCTIONS:
            assert c.id.startswith(c.target + ".")
        else:
            assert c.id == f"train.{c.target}" and c.threshold is not None


def test_every_probe_is_used_and_every_function_checked():
    assert {c.probe for c in rubric.CHECKS} == set(rubric.PROBES)
    assert set(rubric.STUDENT_FUNCTIONS) <= set(rubric.TARGETS)
    for p in rubric.PROBES.values():
        assert set(p.uses) <= set(rubric.STUDENT_FUNCTIONS)
