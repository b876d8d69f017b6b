"""Implicit-feedback ALS on Spark, distributed over customers with the product factors broadcast.

The model is the one of Spark ML's `ALS(implicitPrefs=True)` (Hu, Koren and Volinsky 2008): for a
customer u and a product i with r purchases, preference p = 1 if r > 0, confidence c = 1 + alpha r;
alternating least squares minimises sum c (p - x_u . y_i)^2 + regParam (n_u |x_u|^2 + n_i |y_i|^2),
with n the number of products a customer bought (customers a product had), as Spark ML scales it.
Factors start as random unit vectors (seeded).

Why not `pyspark.ml.recommendation.ALS`: a grocery catalogue is small (hundreds to thousands of
products) while customers are many. Spark ML shuffles both factor sides every half-iteration and
needs 25-35 s for this fit at full scale on two cores (measured here), more than the time budget.
Here:
- purchases are counted per customer and product in Spark (`purchase_counts`: the whole interval,
  the training part before the holdout, and the holdout), then packed once into compact CSR blocks
  of customers (cached in Spark);
- each iteration is one Spark job: every task gets the product factors Y (small, sent with the task),
  solves its customers' factors exactly (batched `numpy.linalg.solve`), and returns only the product
  side's sufficient statistics (sum c x x^T, sum c p x, X^T X): n_items x rank^2 numbers;
- the driver adds those up and solves every product's factors; customer factors never leave their
  task, so nothing is shuffled after packing;
- the holdout model and the published model train side by side in the same jobs (one read of the
  blocks per iteration for both);
- the last pass solves the customers once more and computes their top-N (or the holdout metrics) in
  the same task: a dense (customers x products) score block per chunk, one matrix product.
Per chunk, customer-product weights are a dense float32 block (at most `CHUNK_CELLS` cells), so the
heavy work is BLAS matrix products. Memory per task stays at a few blocks; the limit is a catalogue
small enough to broadcast (about 1e5 products).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from functools import cached_property

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from grocery.spark.evaluate import MetricSums

CHUNK_CELLS = 1 << 22  # customers x products cells of one dense block (16 MiB of float32)
PACKED_SCHEMA = "users binary, indptr binary, items binary, full binary, train binary, holdout binary"
BLOB_SCHEMA = "blob binary"
RECOMMENDATION_SCHEMA = "customer_id long, rank int, product_id long, score double, is_fallback boolean"


@dataclass(frozen=True)
class AlsParams:
    rank: int = 10
    max_iter: int = 10
    reg_param: float = 0.1
    alpha: float = 10.0
    seed: int = 42


# -- input: purchases packed into CSR blocks of customers -------------------------------------------

PACKED_FIELDS = ("users", "indptr", "items", "full", "train", "holdout")


def purchase_counts(sales: DataFrame, as_of: date, train_end: date) -> DataFrame:
    """Per customer and product, in one pass: purchases (sale lines) up to as_of ("full"), up to
    train_end ("train"), and whether any came after train_end ("holdout").

    Customers whose lines all come after as_of keep one row without a product: they are known, and
    get a fallback."""
    late = F.col("sales_date") > F.lit(as_of)
    return sales.groupBy(
        "customer_id", F.when(late, F.lit(None)).otherwise(F.col("product_id")).alias("product_id")
    ).agg(
        F.count(F.when(~late, 1)).cast("float").alias("full"),
        F.count(F.when(F.col("sales_date") <= F.lit(train_end), 1)).cast("float").alias("train"),
        F.max(~late & (F.col("sales_date") > F.lit(train_end))).alias("holdout"),
    )


def catalogue(pairs: DataFrame) -> np.ndarray:
    """The sorted product ids of a sales or pairs frame: item index -> product id."""
    rows = pairs.where(F.col("product_id").isNotNull()).select("product_id").distinct().collect()
    return np.array(sorted(r[0] for r in rows), dtype=np.int64)


def _blob(data: np.ndarray) -> bytes:
    return np.ascontiguousarray(data).tobytes()


def _pack(items_index: np.ndarray):
    n_items = len(items_index)
    schema = pa.schema([(name, pa.binary()) for name in PACKED_FIELDS])

    def pack(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        table = pa.Table.from_batches(list(batches))
        if table.num_rows == 0:
            return
        users = table.column("customer_id").to_numpy().astype(np.int64)
        product = table.column("product_id").fill_null(-1).to_numpy().astype(np.int64)
        full = table.column("full").to_numpy().astype(np.float32)
        train = table.column("train").to_numpy().astype(np.float32)
        holdout = table.column("holdout").fill_null(False).to_numpy(zero_copy_only=False).astype(np.uint8)
        all_users = np.unique(users)
        item = np.minimum(np.searchsorted(items_index, product), max(n_items - 1, 0))
        known = (product >= 0) & (full > 0) & (items_index[item] == product if n_items else False)
        order = np.lexsort((item[known], users[known]))
        pair_user = np.searchsorted(all_users, users[known][order])
        pair_item = item[known][order].astype(np.int32)
        full, train, holdout = full[known][order], train[known][order], holdout[known][order]
        per_chunk = max(1, CHUNK_CELLS // max(n_items, 1))
        for lo in range(0, len(all_users), per_chunk):
            hi = min(lo + per_chunk, len(all_users))
            a, b = np.searchsorted(pair_user, [lo, hi])
            counts = np.bincount(pair_user[a:b] - lo, minlength=hi - lo)
            indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
            values = (all_users[lo:hi], indptr, pair_item[a:b], full[a:b], train[a:b], holdout[a:b])
            yield pa.RecordBatch.from_arrays(
                [pa.array([_blob(v)], pa.binary()) for v in values], schema=schema
            )

    return pack


def pack(pairs: DataFrame, items_index: np.ndarray, partitions: int) -> DataFrame:
    """Purchase pairs as cached CSR blocks of customers.

    `pairs` has one row per customer and product: customer_id, product_id, full (purchases up to the
    run date), train (up to the end of the training part), holdout (bought after it). A row without a
    product, or with full = 0, only makes its customer known: the customer gets a fallback.
    """
    packed = (
        pairs.select("customer_id", "product_id", "full", "train", "holdout")
        .repartition(partitions, "customer_id")
        .mapInArrow(_pack(items_index), PACKED_SCHEMA)
        .cache()
    )
    packed.count()
    return packed


@dataclass
class Block:
    """One chunk of customers, unpacked in a task, for one weighting ("full" or "train")."""

    users: np.ndarray
    weights: np.ndarray  # dense (m, n_items) float32: alpha x purchases, 0 where none
    bought: np.ndarray  # dense bool
    counts: np.ndarray  # products bought per customer
    relevant: np.ndarray | None  # dense bool: bought in the holdout (for "train" blocks)

    @cached_property
    def confidence(self) -> np.ndarray:
        """c x p as float32: 1 + alpha x purchases where bought, 0 elsewhere."""
        return self.weights + self.bought.astype(np.float32)

    @classmethod
    def from_row(cls, row: dict[str, bytes], n_items: int, alpha: float, weighting: str) -> Block:
        users = np.frombuffer(row["users"], np.int64)
        m = len(users)
        indptr = np.frombuffer(row["indptr"], np.int64)
        rows = np.repeat(np.arange(m), np.diff(indptr))
        items = np.frombuffer(row["items"], np.int32)
        purchases = np.frombuffer(row[weighting], np.float32)
        weights = np.zeros((m, n_items), np.float32)
        weights[rows, items] = alpha * purchases
        relevant = None
        if weighting == "train":
            holdout = np.frombuffer(row["holdout"], np.uint8).astype(bool)
            relevant = np.zeros((m, n_items), bool)
            relevant[rows[holdout], items[holdout]] = True
        bought = weights > 0
        return cls(users, weights, bought, bought.sum(axis=1), relevant)


def _rows(batches: Iterator[pa.RecordBatch]) -> Iterator[dict[str, bytes]]:
    for batch in batches:
        yield from batch.to_pylist()


# -- the solver ------------------------------------------------------------------------------------


def _triu(rank: int) -> tuple[np.ndarray, np.ndarray]:
    return np.triu_indices(rank)


def _outer_upper(factors: np.ndarray, iu: np.ndarray, ju: np.ndarray) -> np.ndarray:
    """Each row's outer product x x^T, upper triangle only, flattened: (n, rank (rank+1) / 2)."""
    return (factors[:, iu] * factors[:, ju]).astype(np.float32)


def _solve(gram: np.ndarray, upper: np.ndarray, rhs: np.ndarray, reg: np.ndarray, rank: int) -> np.ndarray:
    """Solve (gram + sym(upper) + reg I) x = rhs for every row."""
    iu, ju = _triu(rank)
    n = len(rhs)
    a = np.empty((n, rank, rank))
    a[:, iu, ju] = upper
    a[:, ju, iu] = upper
    a += gram
    a[:, np.arange(rank), np.arange(rank)] += reg[:, None] + 1e-9
    return np.linalg.solve(a, rhs[:, :, None])[:, :, 0]


def user_factors(block: Block, y: np.ndarray, reg_param: float) -> np.ndarray:
    """Exact least-squares customer factors of a block given the product factors."""
    rank = y.shape[1]
    iu, ju = _triu(rank)
    gram = y.T @ y
    upper = block.weights @ _outer_upper(y, iu, ju)
    rhs = block.confidence @ y.astype(np.float32)
    reg = reg_param * np.maximum(block.counts, 1)
    return _solve(gram, upper.astype(np.float64), rhs.astype(np.float64), reg, rank)


def _item_statistics(factors: dict[str, np.ndarray], n_items: int, alpha: float, reg_param: float):
    """A task function: for each weighting, solve the customers and return the product side's sums."""

    def task(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        sums = {}
        for weighting, y in factors.items():
            rank = y.shape[1]
            sums[weighting] = [np.zeros((n_items, rank * (rank + 1) // 2)), np.zeros((n_items, rank)),
                               np.zeros((rank, rank)), np.zeros(n_items)]  # fmt: skip
        for row in _rows(batches):
            for weighting, y in factors.items():
                block = Block.from_row(row, n_items, alpha, weighting)
                iu, ju = _triu(y.shape[1])
                x = user_factors(block, y, reg_param)
                upper, rhs, gram, buyers = sums[weighting]
                upper += block.weights.T @ _outer_upper(x, iu, ju)
                rhs += block.confidence.T @ x.astype(np.float32)
                gram += x.T @ x
                buyers += block.bought.sum(axis=0)
        yield pa.RecordBatch.from_pydict({"blob": [pickle.dumps(sums)]})

    return task


@dataclass
class AlsModel:
    """Product factors after training, and what the last pass needs."""

    items: np.ndarray  # item index -> product_id
    item_factors: np.ndarray  # (n_items, rank)
    buyers: np.ndarray  # distinct customers per product in the training data (the popularity)
    params: AlsParams
    weighting: str  # which purchases it was trained on: "full" or "train"


def initial_factors(n_items: int, rank: int, seed: int) -> np.ndarray:
    """Random unit vectors, as Spark ML starts."""
    y = np.random.default_rng(seed).standard_normal((n_items, rank))
    return y / np.linalg.norm(y, axis=1, keepdims=True)


def fit(packed: DataFrame, items: np.ndarray, params: AlsParams, weightings: tuple[str, ...] = ("full",),
        on_iteration: Callable[[int], None] | None = None) -> dict[str, AlsModel]:  # fmt: skip
    """Alternate max_iter times, customers in the tasks and products on the driver, for each weighting.

    Several weightings (the holdout's training part and the whole interval) train side by side: one
    Spark job per iteration reads the packed blocks once for all of them.
    """
    n_items, rank = len(items), params.rank
    ys = {w: initial_factors(n_items, rank, params.seed) for w in weightings}
    buyers = {w: np.zeros(n_items) for w in weightings}
    for iteration in range(params.max_iter):
        task = _item_statistics(ys, n_items, params.alpha, params.reg_param)
        parts = [pickle.loads(p["blob"]) for p in packed.mapInArrow(task, BLOB_SCHEMA).collect()]
        for w in weightings:
            upper, rhs, gram, counts = (sum(v) for v in zip(*(part[w] for part in parts), strict=True))
            y = _solve(gram, upper, rhs, params.reg_param * np.maximum(counts, 1), rank)
            y[counts == 0] = 0.0
            ys[w], buyers[w] = y, counts
        if on_iteration:
            on_iteration(iteration + 1)
    return {w: AlsModel(items, ys[w], buyers[w], params, w) for w in weightings}


# -- top-N, fallback and evaluation -----------------------------------------------------------------


def top_n(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Indexes and scores of the n best finite scores per row, best first (ties: lower index first); -1 pads."""
    m, width = scores.shape
    n_take = min(n, width)
    if n_take < width:
        part = np.argpartition(-scores, n_take - 1, axis=1)[:, :n_take]
    else:
        part = np.tile(np.arange(width), (m, 1))
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1)
    idx = np.take_along_axis(part, order, axis=1)
    val = np.take_along_axis(part_scores, order, axis=1)
    idx = np.where(np.isfinite(val), idx, -1)
    if n_take < n:
        idx = np.pad(idx, ((0, 0), (0, n - n_take)), constant_values=-1)
        val = np.pad(val, ((0, 0), (0, n - n_take)), constant_values=-np.inf)
    return idx, val


def popular_top_n(bought: np.ndarray, popularity: np.ndarray, n: int, exclude: bool) -> np.ndarray:
    """The n most popular products per row, skipping bought ones when exclude (ties: lower index first)."""
    order = np.lexsort((np.arange(len(popularity)), -popularity))
    order = order[popularity[order] > 0]
    available = ~bought[:, order] if exclude else np.ones((bought.shape[0], len(order)), bool)
    keep = available & (np.cumsum(available, axis=1) <= n)
    out = np.full((bought.shape[0], n), -1, np.int64)
    rows, cols = np.nonzero(keep)
    slot = np.cumsum(keep, axis=1)[rows, cols] - 1
    out[rows, slot] = order[cols]
    return out


def _scores(block: Block, model: AlsModel, exclude: bool) -> np.ndarray:
    x = user_factors(block, model.item_factors, model.params.reg_param)
    scores = (x.astype(np.float32) @ model.item_factors.T.astype(np.float32)).astype(np.float64)
    scores[:, model.buyers == 0] = -np.inf  # never bought in training: not in the model's catalogue
    if exclude:
        scores[block.bought] = -np.inf
    return scores


def _recommend_task(model: AlsModel, n: int, exclude: bool):
    n_items = len(model.items)
    share = model.buyers / max(model.buyers.max(), 1)

    def task(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for row in _rows(batches):
            block = Block.from_row(row, n_items, model.params.alpha, model.weighting)
            scored = block.counts > 0
            idx, val = top_n(_scores(block, model, exclude), n)
            fallback = popular_top_n(block.bought, model.buyers, n, exclude)
            idx = np.where(scored[:, None], idx, fallback)
            val = np.where(scored[:, None], val, share[np.maximum(fallback, 0)])
            filled = idx >= 0
            rows, ranks = np.nonzero(filled)
            yield pa.RecordBatch.from_pydict(
                {
                    "customer_id": pa.array(block.users[rows], pa.int64()),
                    "rank": pa.array(ranks + 1, pa.int32()),
                    "product_id": pa.array(model.items[idx[rows, ranks]], pa.int64()),
                    "score": pa.array(val[rows, ranks], pa.float64()),
                    "is_fallback": pa.array(~scored[rows], pa.bool_()),
                }
            )

    return task


def recommend(packed: DataFrame, model: AlsModel, n: int, exclude_purchased: bool) -> DataFrame:
    """Top-n products for every packed customer; customers without training purchases get popular ones."""
    return packed.mapInArrow(_recommend_task(model, n, exclude_purchased), RECOMMENDATION_SCHEMA)


def _evaluate_task(model: AlsModel, ks: list[int], exclude: bool):
    n_items = len(model.items)

    def task(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        sums = {(name, k): MetricSums(k, n_items) for name in ("als", "popularity") for k in ks}
        for row in _rows(batches):
            block = Block.from_row(row, n_items, model.params.alpha, model.weighting)
            assert block.relevant is not None, (
                "evaluation needs a model trained on the holdout's training part"
            )
            relevant = block.relevant & ~block.bought if exclude else block.relevant
            keep = (block.counts > 0) & relevant.any(axis=1)
            if not keep.any():
                continue
            sub = Block(block.users[keep], block.weights[keep], block.bought[keep], block.counts[keep], None)
            als_top, _ = top_n(_scores(sub, model, exclude), max(ks))
            pop_top = popular_top_n(sub.bought, model.buyers, max(ks), exclude)
            for k in ks:
                sums["als", k].add(als_top, relevant[keep])
                sums["popularity", k].add(pop_top, relevant[keep])
        yield pa.RecordBatch.from_pydict({"blob": [pickle.dumps(sums)]})

    return task


def evaluate(
    packed: DataFrame, model: AlsModel, ks: list[int], exclude_purchased: bool
) -> list[dict[str, object]]:
    """Metric rows (model, k, precision_at_k, recall_at_k, ndcg_at_k, coverage, users) on the packed holdout."""
    parts = packed.mapInArrow(_evaluate_task(model, ks, exclude_purchased), BLOB_SCHEMA).collect()
    total: dict[tuple[str, int], MetricSums] = {}
    for part in parts:
        for key, sums in pickle.loads(part["blob"]).items():
            if key in total:
                total[key].merge(sums)
            else:
                total[key] = sums
    catalogue_size = int((model.buyers > 0).sum())
    return [total[key].row(key[0], catalogue_size) for key in sorted(total, key=lambda kk: (kk[0], kk[1]))]
