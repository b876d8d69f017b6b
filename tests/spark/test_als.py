"""ALS, top-N, the popularity baseline and the ranking metrics, on small inline data."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from grocery.spark import als
from grocery.spark.evaluate import MetricSums

AS_OF = date(2018, 5, 9)


def test_top_n_is_best_first_with_ties_by_index_and_pads_excluded_items():
    scores = np.array([[0.1, 0.9, 0.5, 0.9], [-np.inf, 0.2, -np.inf, -np.inf]])
    idx, val = als.top_n(scores, 3)
    assert idx.tolist() == [[1, 3, 2], [1, -1, -1]]
    assert val[0].tolist() == [0.9, 0.9, 0.5]


def test_top_n_keeps_the_lower_indexes_of_scores_tied_at_the_cut_off():
    # argpartition alone took index 11 here (numpy 2.4), of the 2s tied for fourth place.
    tied = [1, 2, 1, 2, 1, 2, 0, 1, 0, 0, 2, 2, 0, 2, 2, 0, 1, 1, 1, 1, 0, 2, 2, 0]
    scores = np.array([tied, tied[::-1], [0.0] * 24, [-np.inf] * 21 + [1.0, 0.0, 0.0]], np.float32)
    idx, val = als.top_n(scores, 4)
    assert idx.tolist() == [[1, 3, 5, 10], [1, 2, 9, 10], [0, 1, 2, 3], [21, 22, 23, -1]]
    assert val[0].tolist() == [2.0, 2.0, 2.0, 2.0]
    rng = np.random.default_rng(0)
    many = rng.integers(0, 3, size=(200, 24)).astype(np.float32)
    best_first = np.lexsort((np.broadcast_to(np.arange(24), many.shape), -many), axis=1)
    assert (als.top_n(many, 5)[0] == best_first[:, :5]).all()


def test_popular_top_n_skips_bought_products_only_when_excluding():
    popularity = np.array([5.0, 9.0, 0.0, 7.0, 7.0])  # product 2 was never bought: never recommended
    bought = np.array([[False, True, False, False, False], [True, True, True, True, True]])
    assert als.popular_top_n(bought, popularity, 3, exclude=True).tolist() == [[3, 4, 0], [-1, -1, -1]]
    assert als.popular_top_n(bought, popularity, 3, exclude=False).tolist() == [[1, 3, 4], [1, 3, 4]]


def test_popular_top_n_looks_past_as_many_popular_products_as_a_row_bought():
    popularity = np.array([9.0, 8.0, 7.0, 6.0, 5.0, 4.0])
    bought = np.array([[True, True, True, False, False, False], [False] * 6])
    assert als.popular_top_n(bought, popularity, 2, exclude=True).tolist() == [[3, 4], [0, 1]]


def test_batched_solve_matches_numpy_for_every_row():
    rng = np.random.default_rng(5)
    rank, n = 6, 50
    factors = rng.standard_normal((n, rank, 3))
    upper_full = factors @ factors.transpose(0, 2, 1)  # positive semi-definite, rank 3 < 6
    iu, ju = np.triu_indices(rank)
    gram = np.eye(rank) * 0.5
    reg, rhs = rng.random(n), rng.standard_normal((n, rank))
    x = als._solve(gram, upper_full[:, iu, ju], rhs, reg, rank)
    a = gram + upper_full + (reg + 1e-9)[:, None, None] * np.eye(rank)
    np.testing.assert_allclose(x, np.linalg.solve(a, rhs[:, :, None])[:, :, 0], rtol=1e-9, atol=1e-12)


def test_a_singular_system_without_regularization_still_gets_finite_factors():
    v = np.array([[1e4, -1e4, 3e3]])
    iu, ju = np.triu_indices(3)
    upper = (v[:, :, None] * v[:, None, :])[:, iu, ju]  # rank 1: not positive definite
    x = als._solve(np.zeros((3, 3)), upper, np.array([[1.0, -1.0, 0.3]]), np.zeros(1), 3)
    assert np.isfinite(x).all()


def test_metric_sums_give_exact_precision_recall_ndcg_and_coverage():
    sums = MetricSums(k=2, n_items=4)
    top = np.array([[0, 1], [2, -1]])
    relevant = np.array([[False, True, False, True], [False, False, True, False]])
    sums.add(top, relevant)
    row = sums.row("als", catalogue=4)
    # Customer 1: hit at position 2 of 2 relevant; customer 2: hit at position 1 of 1 relevant.
    ndcg_1 = (1 / np.log2(3)) / (1 + 1 / np.log2(3))
    assert row["precision_at_k"] == pytest.approx((0.5 + 0.5) / 2)
    assert row["recall_at_k"] == pytest.approx((0.5 + 1.0) / 2)
    assert row["ndcg_at_k"] == pytest.approx((ndcg_1 + 1.0) / 2)
    assert row["coverage"] == pytest.approx(3 / 4)
    assert row["users"] == 2


def test_user_factors_solve_the_weighted_least_squares_exactly():
    rng = np.random.default_rng(1)
    n_items, rank, alpha, reg = 6, 3, 2.0, 0.1
    y = rng.standard_normal((n_items, rank))
    purchases = np.array([[3, 0, 1, 0, 0, 2], [0, 0, 0, 0, 0, 0]], np.float32)
    rows, items = np.nonzero(np.ones_like(purchases))
    block = als.Block.from_pairs(np.array([1, 2]), rows, items, purchases[rows, items], alpha, n_items)
    x = als.user_factors(block, y, reg)
    for u in range(2):
        c = 1 + alpha * purchases[u]
        p = (purchases[u] > 0).astype(float)
        lam = reg * max(int((purchases[u] > 0).sum()), 1)
        expected = np.linalg.solve(y.T @ (c[:, None] * y) + lam * np.eye(rank), y.T @ (c * p))
        np.testing.assert_allclose(x[u], expected, rtol=1e-4, atol=1e-6)
    assert np.allclose(x[1], 0)  # no purchases: no preference


def planted_sales(spark):
    """Two tastes: customers 1-6 buy products 10-13, customers 7-12 buy 20-23; 13 buys only after AS_OF."""
    rows, sid = [], 0
    rng = np.random.default_rng(3)
    for customer in range(1, 13):
        group = (10, 11, 12, 13) if customer <= 6 else (20, 21, 22, 23)
        # Each customer skips one product of their group: the one to recommend.
        skipped = group[customer % 4]
        for day in range(30):
            for product_id in group:
                if product_id != skipped and rng.random() < 0.5:
                    sid += 1
                    rows.append((sid, f"T{sid}", AS_OF - timedelta(days=day), customer, product_id, 1.0))
        rows.append((sid + 1000 + customer, "X", AS_OF - timedelta(days=29), customer, 99, 1.0))
    rows.append((9999, "late", AS_OF + timedelta(days=2), 13, 10, 1.0))
    return spark.createDataFrame(
        rows,
        "sales_id long, transaction_number string, sales_date date, customer_id long, product_id long, net_revenue double",
    )


def test_recommendations_follow_the_planted_tastes_and_fall_back_to_popular(spark):
    sales = planted_sales(spark)
    packed = als.pack(sales, AS_OF, AS_OF - timedelta(days=7), partitions=2)
    assert packed.items.tolist() == [10, 11, 12, 13, 20, 21, 22, 23, 99]  # 13's late purchase is not in it
    assert (packed.customers, packed.buyers) == (13, 12)
    blocks = packed.frame.collect()
    users = np.concatenate([np.frombuffer(b["users"], np.int64) for b in blocks])
    assert sorted(users.tolist()) == list(range(1, 14))  # each customer in exactly one block
    params = als.AlsParams(rank=4, max_iter=8, reg_param=0.05, alpha=5.0, seed=1)
    models = als.fit(packed, params, ("train", "full"))
    recs = als.recommend(packed, models["full"], 1, exclude_purchased=True).collect()
    by_customer = {r.customer_id: r for r in recs}
    assert set(by_customer) == set(range(1, 14))
    for customer in range(1, 13):
        group = (10, 11, 12, 13) if customer <= 6 else (20, 21, 22, 23)
        assert by_customer[customer].product_id == group[customer % 4], customer
        assert not by_customer[customer].is_fallback
    # Customer 13 bought only after AS_OF: the model cannot score them, the most popular product
    # instead (99, bought by all twelve others).
    assert by_customer[13].is_fallback
    assert by_customer[13].product_id == 99

    metrics = als.evaluate(packed, models["train"], [1, 2], exclude_purchased=False)
    assert [(m["model"], m["k"]) for m in metrics] == [
        ("als", 1),
        ("als", 2),
        ("popularity", 1),
        ("popularity", 2),
    ]
    assert all(m["users"] == 12 for m in metrics)
    als_at_2 = next(m for m in metrics if m["model"] == "als" and m["k"] == 2)
    pop_at_2 = next(m for m in metrics if m["model"] == "popularity" and m["k"] == 2)
    assert als_at_2["precision_at_k"] > pop_at_2["precision_at_k"]
    packed.unpersist()


def test_the_fit_does_not_depend_on_how_customers_are_partitioned(spark):
    sales = planted_sales(spark)
    params = als.AlsParams(rank=3, max_iter=3, reg_param=0.05, alpha=5.0, seed=2)
    fitted = []
    for partitions in (1, 3):
        packed = als.pack(sales, AS_OF, AS_OF - timedelta(days=7), partitions)
        fitted.append(als.fit(packed, params, ("full",))["full"].item_factors)
        packed.unpersist()
    np.testing.assert_allclose(fitted[0], fitted[1], rtol=1e-4, atol=1e-5)  # float32 sums, other blocks
