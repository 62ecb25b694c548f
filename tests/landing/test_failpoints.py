"""``failpoints.py``: the crash points a test arms (the crash tests kill real processes)."""

from __future__ import annotations

import pytest

from sensorlake.landing.failpoints import POINTS, Failpoints


def test_a_spec_arms_countdowns_by_name() -> None:
    armed = Failpoints.parse(" after-spool:2 , during-upload,")
    assert armed == Failpoints({"after-spool": 2, "during-upload": 1})
    assert armed.armed("after-spool") and not armed.armed("after-commit")
    assert Failpoints.parse("") == Failpoints()


def test_an_unknown_point_is_named_with_the_choices() -> None:
    with pytest.raises(ValueError, match="unknown failpoint 'after-lunch'") as err:
        Failpoints.parse("after-lunch")
    assert all(point in str(err.value) for point in POINTS)


def test_an_unarmed_or_counting_point_does_not_kill() -> None:
    points = Failpoints({"after-spool": 2})
    points.hit("after-commit")  # not armed: nothing
    points.hit("after-spool")  # 2 -> 1: still alive
    assert points == Failpoints({"after-spool": 1})
