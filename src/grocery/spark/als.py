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
- `pack`: the sale lines are shuffled once, by customer; each partition counts its purchases per
  customer and product (the whole interval, the training part before the holdout, and the holdout)
  and packs them into compact CSR blocks of customers, cached in Spark. A small job over the cache
  materializes it and returns the catalogue (the products bought) and the customer counts;
- `fit`: each iteration is one Spark job: every task gets the product factors Y (small, sent with
  the task), solves its customers' factors exactly, and returns only the product side's sufficient
  statistics (sum c x x^T, sum c p x, X^T X): n_items x rank^2 numbers. The driver adds those up
  and solves every product's factors; customer factors never leave their task, so nothing is
  shuffled after packing. The holdout model and the published model train side by side in the
  same jobs (one read of the blocks per iteration for both). (Barrier tasks exchanging the sums
  with `allGather` would save the jobs, but Spark polls a barrier once a second: slower here);
- `evaluate` and `recommend`: one more pass each solves the customers once more and scores them
  against every product in one matrix product per block, then keeps the top N.
Per block, the weights alpha x purchases are one dense float32 (customers x products) matrix of at
most `CHUNK_CELLS` cells, so each half-iteration is one BLAS product per block:
weights @ [y y^T | y] for the customers, weights^T @ [x x^T | x] for the products (plus a product
with the 0/1 matrix of purchases, a tenth of that, for the "1 +" of the confidence). The small
normal equations of a whole block are solved together (`_cholesky_solve`). Memory per task stays
at a few blocks; the limit is a catalogue small enough to broadcast (about 1e5 products).
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from grocery.spark.evaluate import MetricSums

CHUNK_CELLS = 1 << 22  # customers x products cells of one dense block (16 MiB of float32)
WEIGHTINGS = ("full", "train")  # purchases up to the run date; up to the end of the training part
# A packed block, each field a numpy array as bytes: its customers (users) and their pairs in CSR
# form (indptr), the products of the block's partition and, per pair, the index into them (items),
# the purchases up to the run date (full) and before the holdout (train), and whether in it (holdout).
PACKED_FIELDS = ("users", "indptr", "products", "items", "full", "train", "holdout")
PACKED_SCHEMA = ", ".join(f"{name} binary" for name in PACKED_FIELDS)
SUMMARY_SCHEMA = "products binary, customers long, buyers long"
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


def purchase_counts(sales: DataFrame, as_of: date, train_end: date) -> DataFrame:
    """Per customer and product: purchases (sale lines) up to as_of ("full"), up to train_end
    ("train"), and whether any came after train_end ("holdout").

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


def _blob(data: np.ndarray) -> bytes:
    return np.ascontiguousarray(data).tobytes()


def _pack_partition(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """A task function: one partition's purchase pairs (every pair of its customers) as CSR blocks."""
    schema = pa.schema([(name, pa.binary()) for name in PACKED_FIELDS])
    batches = list(batches)
    if not batches:
        return
    table = pa.Table.from_batches(batches)
    if table.num_rows == 0:
        return
    users = table.column("customer_id").to_numpy().astype(np.int64)
    product = table.column("product_id").fill_null(-1).to_numpy().astype(np.int64)
    full = table.column("full").to_numpy().astype(np.float32)
    train = table.column("train").to_numpy().astype(np.float32)
    holdout = table.column("holdout").fill_null(False).to_numpy(zero_copy_only=False).astype(np.uint8)
    all_users = np.unique(users)
    known = (product >= 0) & (full > 0)
    order = np.lexsort((product[known], users[known]))
    pair_user = np.searchsorted(all_users, users[known][order])
    product, full, train, holdout = (a[known][order] for a in (product, full, train, holdout))
    products, local = np.unique(product, return_inverse=True)
    per_chunk = max(1, CHUNK_CELLS // max(len(products), 1))
    for lo in range(0, len(all_users), per_chunk):
        hi = min(lo + per_chunk, len(all_users))
        a, b = np.searchsorted(pair_user, [lo, hi])
        counts = np.bincount(pair_user[a:b] - lo, minlength=hi - lo)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        values = (all_users[lo:hi], indptr, products, local[a:b].astype(np.int32), full[a:b], train[a:b],
                  holdout[a:b])  # fmt: skip
        yield pa.RecordBatch.from_arrays([pa.array([_blob(v)], pa.binary()) for v in values], schema=schema)


def _summarize_partition(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """A task function: the products bought in a partition's blocks, its customers and how many bought."""
    products, customers, buyers = [np.zeros(0, np.int64)], 0, 0
    for row in _rows(batches):
        products.append(np.frombuffer(row["products"], np.int64))
        indptr = np.frombuffer(row["indptr"], np.int64)
        customers += len(indptr) - 1
        buyers += int((np.diff(indptr) > 0).sum())
    yield pa.RecordBatch.from_pydict(
        {
            "products": [_blob(np.unique(np.concatenate(products)))],
            "customers": [customers],
            "buyers": [buyers],
        }
    )


@dataclass
class Packed:
    """Purchases as cached CSR blocks of customers, with what the driver needs to know about them."""

    frame: DataFrame  # one row per block: PACKED_FIELDS, each a binary numpy array
    items: np.ndarray  # the catalogue: item index -> product id (sorted), products bought up to as_of
    customers: int  # every customer with a line in the sales
    buyers: int  # customers with a purchase up to as_of (the others get a fallback)

    def unpersist(self) -> None:
        self.frame.unpersist()


def pack(sales: DataFrame, as_of: date, train_end: date, partitions: int) -> Packed:
    """The sale lines (customer_id, product_id, sales_date) as cached CSR blocks of customers.

    One shuffle: the lines are partitioned by customer, and the count per customer and product keeps
    that partitioning (an aggregate's output is partitioned as its input), so each task sees all the
    pairs of its customers."""
    pairs = purchase_counts(sales.repartition(partitions, "customer_id"), as_of, train_end)
    frame = (
        pairs.select("customer_id", "product_id", "full", "train", "holdout")
        .mapInArrow(_pack_partition, PACKED_SCHEMA)
        .cache()
    )
    parts = frame.mapInArrow(_summarize_partition, SUMMARY_SCHEMA).collect()
    items = np.unique(np.concatenate([np.frombuffer(p["products"], np.int64) for p in parts]))
    return Packed(frame, items, sum(p["customers"] for p in parts), sum(p["buyers"] for p in parts))


def _rows(batches: Iterator[pa.RecordBatch]) -> Iterator[dict[str, bytes]]:
    for batch in batches:
        yield from batch.to_pylist()


@dataclass
class Block:
    """One block of customers for one weighting: the pairs bought, as sparse pairs and dense matrices."""

    users: np.ndarray  # (m,) customer ids
    rows: np.ndarray  # (nnz,) customer row of each pair bought
    items: np.ndarray  # (nnz,) item index of each pair bought
    weights: np.ndarray  # dense (m, n_items) float32: alpha x purchases, 0 where none
    bought: np.ndarray  # dense (m, n_items) float32: 1 where bought, 0 elsewhere

    @classmethod
    def from_pairs(cls, users: np.ndarray, rows: np.ndarray, items: np.ndarray, purchases: np.ndarray,
                   alpha: float, n_items: int) -> Block:  # fmt: skip
        """From pairs (customer row, item index, purchases); pairs with no purchase are left out."""
        some = purchases > 0
        rows, items = rows[some], items[some]
        weights = np.zeros((len(users), n_items), np.float32)
        weights[rows, items] = alpha * purchases[some]
        bought = np.zeros((len(users), n_items), np.float32)
        bought[rows, items] = 1.0
        return cls(users, rows, items, weights, bought)

    @property
    def counts(self) -> np.ndarray:
        """Products bought per customer."""
        return np.bincount(self.rows, minlength=len(self.users))

    def subset(self, keep: np.ndarray) -> Block:
        """The customers where keep (a bool per customer) is true."""
        new_row = np.cumsum(keep) - 1
        pairs = keep[self.rows]
        return Block(self.users[keep], new_row[self.rows[pairs]], self.items[pairs], self.weights[keep],
                     self.bought[keep])  # fmt: skip


@dataclass
class Chunk:
    """One packed row, unpacked in a task: a block of customers and their purchase pairs."""

    users: np.ndarray
    rows: np.ndarray  # pair -> customer row
    items: np.ndarray  # pair -> item index in the catalogue
    purchases: dict[str, np.ndarray]  # weighting -> purchases per pair
    holdout: np.ndarray  # pair -> bought in the holdout

    @classmethod
    def from_row(cls, row: dict[str, bytes], catalogue: np.ndarray) -> Chunk:
        users = np.frombuffer(row["users"], np.int64)
        indptr = np.frombuffer(row["indptr"], np.int64)
        in_catalogue = np.searchsorted(catalogue, np.frombuffer(row["products"], np.int64))
        return cls(
            users=users,
            rows=np.repeat(np.arange(len(users)), np.diff(indptr)),
            items=in_catalogue[np.frombuffer(row["items"], np.int32)],
            purchases={w: np.frombuffer(row[w], np.float32) for w in WEIGHTINGS},
            holdout=np.frombuffer(row["holdout"], np.uint8).astype(bool),
        )

    def block(self, weighting: str, alpha: float, n_items: int) -> Block:
        return Block.from_pairs(self.users, self.rows, self.items, self.purchases[weighting], alpha, n_items)

    def relevant(self, n_items: int) -> np.ndarray:
        """Dense bool (m, n_items): the products each customer bought in the holdout."""
        out = np.zeros((len(self.users), n_items), bool)
        out[self.rows[self.holdout], self.items[self.holdout]] = True
        return out


# -- the solver ------------------------------------------------------------------------------------


def _outer_upper(factors: np.ndarray) -> np.ndarray:
    """Each row's outer product x x^T, upper triangle only, flattened: (n, rank (rank+1) / 2)."""
    iu, ju = np.triu_indices(factors.shape[1])
    return factors[:, iu] * factors[:, ju]


def _with_outer(factors: np.ndarray) -> np.ndarray:
    """[x x^T (upper) | x] per row, float32: one matrix product with it gives both sums of the normal equations."""
    return np.hstack([_outer_upper(factors), factors]).astype(np.float32)


def _cholesky_solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """x with a x = b for many small symmetric positive definite systems: a (k, k, n), b (k, n).

    A Cholesky factorisation run for all n systems at once (the loops go over k), several times
    faster than a batched `numpy.linalg.solve` for the ranks ALS uses."""
    k = b.shape[0]
    low = np.zeros_like(a)
    for j in range(k):
        low[j, j] = np.sqrt(a[j, j] - np.einsum("ln,ln->n", low[j, :j], low[j, :j]))
        low[j + 1 :, j] = (a[j + 1 :, j] - np.einsum("iln,ln->in", low[j + 1 :, :j], low[j, :j])) / low[j, j]
    y = np.empty_like(b)
    for j in range(k):
        y[j] = (b[j] - np.einsum("ln,ln->n", low[j, :j], y[:j])) / low[j, j]
    x = np.empty_like(b)
    for j in reversed(range(k)):
        x[j] = (y[j] - np.einsum("ln,ln->n", low[j + 1 :, j], x[j + 1 :])) / low[j, j]
    return x


def _solve(gram: np.ndarray, upper: np.ndarray, rhs: np.ndarray, reg: np.ndarray, rank: int) -> np.ndarray:
    """Solve (gram + sym(upper) + reg I) x = rhs for every row."""
    iu, ju = np.triu_indices(rank)
    position = np.empty((rank, rank), np.intp)  # (i, j) -> column of upper holding it
    position[iu, ju] = position[ju, iu] = np.arange(len(iu))
    a = upper.T[position]  # (rank, rank, rows)
    a += gram[:, :, None]
    a[np.arange(rank), np.arange(rank)] += reg + 1e-9
    with np.errstate(invalid="ignore", divide="ignore"):  # a non-positive pivot gives NaN, handled below
        x = _cholesky_solve(a, np.ascontiguousarray(rhs.T)).T
    # Not positive definite in floating point: possible only without regularization, on degenerate
    # data. Those rows get the least-squares solution of smallest norm instead.
    singular = ~np.isfinite(x).all(axis=1)
    if singular.any():
        pinv = np.linalg.pinv(a[:, :, singular].transpose(2, 0, 1))
        x[singular] = (pinv @ rhs[singular][:, :, None])[:, :, 0]
    return x


def user_factors(block: Block, y: np.ndarray, reg_param: float) -> np.ndarray:
    """Exact least-squares customer factors of a block given the product factors."""
    rank = y.shape[1]
    sums = (block.weights @ _with_outer(y)).astype(np.float64)
    upper = sums[:, : rank * (rank + 1) // 2]
    rhs = sums[:, -rank:] + block.bought @ y.astype(np.float32)  # c = alpha r + 1 where bought
    reg = reg_param * np.maximum(block.counts, 1)
    return _solve(y.T @ y, upper, rhs, reg, rank)


@dataclass
class ItemSums:
    """The product side's sufficient statistics, added up over blocks and tasks."""

    upper: np.ndarray  # (n_items, rank (rank+1) / 2): sum over buyers of (c - 1) x x^T, upper triangle
    rhs: np.ndarray  # (n_items, rank): sum over buyers of c x
    gram: np.ndarray  # (rank, rank): X^T X over every customer
    buyers: np.ndarray  # (n_items,): customers who bought the product

    @classmethod
    def zeros(cls, n_items: int, rank: int) -> ItemSums:
        return cls(np.zeros((n_items, rank * (rank + 1) // 2)), np.zeros((n_items, rank)),
                   np.zeros((rank, rank)), np.zeros(n_items))  # fmt: skip

    def add(self, block: Block, x: np.ndarray) -> None:
        n_items, k2 = self.upper.shape
        sums = block.weights.T @ _with_outer(x)
        self.upper += sums[:, :k2]
        self.rhs += sums[:, k2:] + block.bought.T @ x.astype(np.float32)
        self.gram += x.T @ x
        self.buyers += np.bincount(block.items, minlength=n_items)

    def merge(self, other: ItemSums) -> None:
        self.upper += other.upper
        self.rhs += other.rhs
        self.gram += other.gram
        self.buyers += other.buyers


def _product_factors(parts: list[ItemSums], params: AlsParams) -> tuple[np.ndarray, np.ndarray]:
    """Every product's factors from the sums of all tasks, and its buyers (no buyer: zero factors)."""
    total = ItemSums.zeros(*parts[0].rhs.shape)
    for part in parts:
        total.merge(part)
    reg = params.reg_param * np.maximum(total.buyers, 1)
    y = _solve(total.gram, total.upper, total.rhs, reg, params.rank)
    y[total.buyers == 0] = 0.0
    return y, total.buyers


def _item_statistics(catalogue: np.ndarray, factors: dict[str, np.ndarray], params: AlsParams):
    """A task function: for each weighting, solve the task's customers and return the product side's sums."""
    n_items = len(catalogue)

    def task(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        sums = {w: ItemSums.zeros(n_items, params.rank) for w in factors}
        for row in _rows(batches):
            chunk = Chunk.from_row(row, catalogue)
            for w, y in factors.items():
                block = chunk.block(w, params.alpha, n_items)
                sums[w].add(block, user_factors(block, y, params.reg_param))
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


def fit(packed: Packed, params: AlsParams, weightings: tuple[str, ...] = ("full",)) -> dict[str, AlsModel]:
    """Alternate max_iter times, customers in the tasks and products on the driver, for each weighting.

    Several weightings (the holdout's training part and the whole interval) train side by side: one
    Spark job per iteration reads the packed blocks once for all of them.
    """
    ys = {w: initial_factors(len(packed.items), params.rank, params.seed) for w in weightings}
    buyers = {w: np.zeros(len(packed.items)) for w in weightings}
    for _ in range(params.max_iter):
        task = _item_statistics(packed.items, ys, params)
        parts = [pickle.loads(p["blob"]) for p in packed.frame.mapInArrow(task, BLOB_SCHEMA).collect()]
        for w in weightings:
            ys[w], buyers[w] = _product_factors([part[w] for part in parts], params)
    return {w: AlsModel(packed.items, ys[w], buyers[w], params, w) for w in weightings}


# -- top-N, fallback and evaluation -----------------------------------------------------------------


def top_n(scores: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Indexes and scores of the n best finite scores per row, best first (ties: lower index first); -1 pads."""
    m, width = scores.shape
    n_take = min(n, width)
    if n_take < width:
        neg = -scores
        part = np.argpartition(neg, n_take - 1, axis=1)[:, :n_take]
        # argpartition keeps any one of the scores tied with the n-th best. Where one it left out
        # ties with it, a stable sort of that row keeps the lower indexes. Few rows: a customer with
        # no factors (every score 0), or with fewer than n products left to recommend (-inf ties).
        cut = np.take_along_axis(neg, part[:, n_take - 1 :], axis=1)
        tied = np.flatnonzero(np.count_nonzero(neg <= cut, axis=1) > n_take)
        if tied.size:
            part[tied] = np.argsort(neg[tied], axis=1, kind="stable")[:, :n_take]
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
    """The n most popular products per row, skipping bought ones when exclude (ties: lower index first); -1 pads."""
    order = np.lexsort((np.arange(len(popularity)), -popularity))
    order = order[popularity[order] > 0]
    if exclude:  # a row skips at most the products it bought: the n + that many most popular suffice
        order = order[: n + int(bought.sum(axis=1).max(initial=0))]
        available = ~bought[:, order]
    else:
        order = order[:n]
        available = np.ones((bought.shape[0], len(order)), bool)
    slot = np.cumsum(available, axis=1) - 1
    rows, cols = np.nonzero(available & (slot < n))
    out = np.full((bought.shape[0], n), -1, np.int64)
    out[rows, slot[rows, cols]] = order[cols]
    return out


def _scores(block: Block, model: AlsModel, exclude: bool) -> np.ndarray:
    """(m, n_items) float32 scores; -inf where a product cannot be recommended."""
    x = user_factors(block, model.item_factors, model.params.reg_param)
    scores = x.astype(np.float32) @ model.item_factors.T.astype(np.float32)
    scores[:, model.buyers == 0] = -np.inf  # never bought in training: not in the model's catalogue
    if exclude:
        scores[block.bought > 0] = -np.inf
    return scores


def _recommend_task(model: AlsModel, n: int, exclude: bool):
    n_items = len(model.items)
    share = model.buyers / max(model.buyers.max(), 1)

    def task(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for row in _rows(batches):
            block = Chunk.from_row(row, model.items).block(model.weighting, model.params.alpha, n_items)
            idx, val = top_n(_scores(block, model, exclude), n)
            val = val.astype(np.float64)
            unscored = block.counts == 0
            if unscored.any():
                fallback = popular_top_n(block.bought[unscored] > 0, model.buyers, n, exclude)
                idx[unscored], val[unscored] = fallback, share[np.maximum(fallback, 0)]
            rows, ranks = np.nonzero(idx >= 0)
            yield pa.RecordBatch.from_pydict(
                {
                    "customer_id": pa.array(block.users[rows], pa.int64()),
                    "rank": pa.array(ranks + 1, pa.int32()),
                    "product_id": pa.array(model.items[idx[rows, ranks]], pa.int64()),
                    "score": pa.array(val[rows, ranks], pa.float64()),
                    "is_fallback": pa.array(unscored[rows], pa.bool_()),
                }
            )

    return task


def recommend(packed: Packed, model: AlsModel, n: int, exclude_purchased: bool) -> DataFrame:
    """Top-n products for every packed customer; customers without training purchases get popular ones."""
    return packed.frame.mapInArrow(_recommend_task(model, n, exclude_purchased), RECOMMENDATION_SCHEMA)


def _evaluate_task(model: AlsModel, ks: list[int], exclude: bool):
    n_items = len(model.items)
    if model.weighting != "train":
        raise ValueError("evaluation needs a model trained on the holdout's training part")

    def task(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        sums = {(name, k): MetricSums(k, n_items) for name in ("als", "popularity") for k in ks}
        for row in _rows(batches):
            chunk = Chunk.from_row(row, model.items)
            block = chunk.block(model.weighting, model.params.alpha, n_items)
            relevant = chunk.relevant(n_items)
            if exclude:
                relevant &= block.bought == 0
            keep = (block.counts > 0) & relevant.any(axis=1)
            if not keep.any():
                continue
            sub = block.subset(keep)
            als_top, _ = top_n(_scores(sub, model, exclude), max(ks))
            pop_top = popular_top_n(sub.bought > 0, model.buyers, max(ks), exclude)
            for k in ks:
                sums["als", k].add(als_top, relevant[keep])
                sums["popularity", k].add(pop_top, relevant[keep])
        yield pa.RecordBatch.from_pydict({"blob": [pickle.dumps(sums)]})

    return task


def evaluate(
    packed: Packed, model: AlsModel, ks: list[int], exclude_purchased: bool
) -> list[dict[str, object]]:
    """Metric rows (model, k, precision_at_k, recall_at_k, ndcg_at_k, coverage, users) on the packed holdout."""
    parts = packed.frame.mapInArrow(_evaluate_task(model, ks, exclude_purchased), BLOB_SCHEMA).collect()
    total: dict[tuple[str, int], MetricSums] = {}
    for part in parts:
        for key, sums in pickle.loads(part["blob"]).items():
            if key in total:
                total[key].merge(sums)
            else:
                total[key] = sums
    catalogue_size = int((model.buyers > 0).sum())
    return [total[key].row(key[0], catalogue_size) for key in sorted(total)]
