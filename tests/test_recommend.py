"""The recommend stage's summary line (the job itself: tests/spark, tests/e2e)."""

from __future__ import annotations

from datetime import date

from grocery.config import AlsSpec
from grocery.recommend import evaluation_summary


def _metrics(users: int, als: float, popularity: float) -> list[dict]:
    return [
        {"model": model, "k": k, "precision_at_k": value if k == 10 else 0.5, "users": users}
        for model, value in (("als", als), ("popularity", popularity))
        for k in (5, 10)
    ]


def test_the_summary_gives_precision_at_k_of_both_models_and_the_lift():
    said = evaluation_summary(_metrics(623, 0.0727, 0.0490), AlsSpec(), date(2018, 5, 9))
    assert said == "precision@10 ALS 0.0727 vs popularity 0.0490 (1.48x)"
    assert evaluation_summary(_metrics(5, 0.1, 0.0), AlsSpec(), date(2018, 5, 9)).endswith("(n/a)")


def test_an_evaluation_over_no_customer_is_not_reported_as_a_precision_of_zero():
    # An interval no longer than the holdout: nobody bought both before it and in it.
    spec = AlsSpec(holdout_days=14, exclude_purchased=False)
    said = evaluation_summary(_metrics(0, 0.0, 0.0), spec, date(2018, 1, 5))
    assert said == (
        "not evaluated: no customer bought both up to 2017-12-22 and, in the holdout "
        "2017-12-23..2018-01-05 (the last 14 days), anything"
    )


def test_with_purchases_excluded_the_reason_is_that_nobody_bought_anything_new():
    # Customers bought again in the holdout, but only products they had bought before: with
    # excludePurchased those do not count, and the line must not say nobody bought.
    said = evaluation_summary(_metrics(0, 0.0, 0.0), AlsSpec(holdout_days=14), date(2018, 1, 5))
    assert said.endswith("(the last 14 days), a product new to them")
