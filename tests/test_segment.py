"""The segment stage's summary line (the job itself: tests/spark, tests/e2e)."""

from __future__ import annotations

from datetime import date

from grocery.segment import summary

AS_OF = date(2018, 1, 1)


def test_the_summary_names_the_three_largest_segments_and_says_there_are_more():
    segments = {"Champions": 501, "Potential Loyalist": 274, "Lost": 254, "Hibernating": 3}
    assert summary(1_032, segments, AS_OF) == (
        "1,032 customers in 4 segments as of 2018-01-01 (Champions 501, Potential Loyalist 274, Lost 254, ...)"
    )


def test_the_summary_of_three_segments_or_fewer_names_them_all_and_no_more():
    segments = {"No purchases": 1_421, "Champions": 329, "Potential Loyalist": 195}
    assert summary(1_945, segments, AS_OF) == (
        "1,945 customers in 3 segments as of 2018-01-01 (No purchases 1,421, Champions 329, Potential Loyalist 195)"
    )
    assert summary(2, {"Champions": 2}, AS_OF) == "2 customers in 1 segment as of 2018-01-01 (Champions 2)"
