"""Ranking metrics for recommendations on a time-based holdout, in numpy (run inside Spark tasks).

For each evaluated customer: the top-K list (item indexes, best first) and the set of relevant items
(bought in the holdout; when already purchased products are excluded from recommendations, only
products new to the customer count). With binary relevance:
- precision@K = hits in the top K / K;
- recall@K = hits in the top K / relevant items;
- NDCG@K = sum over hits of 1/log2(position + 1) / the same for an ideal list (positions from 1);
- coverage@K = distinct items recommended in anyone's top K / items in the catalogue.
The first three are means over evaluated customers; partial sums are added across Spark tasks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np


def holdout_window(as_of: date, holdout_days: int) -> tuple[date, date]:
    """(last training day, first holdout day): the holdout is the last holdout_days up to as_of."""
    first = as_of - timedelta(days=holdout_days - 1)
    return first - timedelta(days=1), first


def discounts(k: int) -> np.ndarray:
    """1/log2(position + 1) for positions 1..k."""
    return 1.0 / np.log2(np.arange(2, k + 2))


@dataclass
class MetricSums:
    """Sums of per-customer metrics for one model and one K, and the items it recommended."""

    k: int
    n_items: int
    users: int = 0
    precision: float = 0.0
    recall: float = 0.0
    ndcg: float = 0.0
    recommended: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.recommended is None:
            self.recommended = np.zeros(self.n_items, dtype=bool)

    def add(self, top: np.ndarray, relevant: np.ndarray) -> None:
        """Add customers: top is (m, >=k) item indexes (-1 = empty slot), relevant is (m, n_items) bool."""
        top = top[:, : self.k]
        m = top.shape[0]
        if m == 0:
            return
        filled = top >= 0
        safe = np.where(filled, top, 0)
        hits = relevant[np.arange(m)[:, None], safe] & filled
        n_relevant = relevant.sum(axis=1)
        disc = discounts(self.k)
        ideal = np.cumsum(disc)[np.minimum(n_relevant, self.k) - 1]
        self.users += m
        self.precision += float((hits.sum(axis=1) / self.k).sum())
        self.recall += float((hits.sum(axis=1) / n_relevant).sum())
        self.ndcg += float(((hits * disc[: top.shape[1]]).sum(axis=1) / ideal).sum())
        self.recommended[top[filled]] = True

    def merge(self, other: MetricSums) -> None:
        self.users += other.users
        self.precision += other.precision
        self.recall += other.recall
        self.ndcg += other.ndcg
        self.recommended |= other.recommended

    def row(self, model: str, catalogue: int) -> dict[str, object]:
        n = max(self.users, 1)
        return {
            "model": model,
            "k": self.k,
            "precision_at_k": self.precision / n,
            "recall_at_k": self.recall / n,
            "ndcg_at_k": self.ndcg / n,
            "coverage": float(self.recommended.sum()) / max(catalogue, 1),
            "users": self.users,
        }
