"""Helpers for tests that run stages: import them as `from pipeline_support import make_context`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

# Orders as the models count them (dbt/macros/count_orders.sql), as an aggregate over lines of
# core.fct_sales, padded with nulls or not by a left join: distinct transaction numbers, and each
# line without one as an order of its own.
ORDERS = "count(distinct transaction_number) + count(case when transaction_number is null then sales_id end)"


def make_context(home: Path, source_folder: Path | None = None, interval=None, **spec_changes):
    """A Context over a private home; the source is the given folder, or the generator."""
    from grocery.config import PipelineSpec
    from grocery.context import Context
    from grocery.interval import DataInterval

    changes = {"source.kind": "path", "source.path": str(source_folder)} if source_folder else {}
    spec = PipelineSpec().with_overrides(**changes, **spec_changes)
    return Context(spec=spec, home=home, interval=interval or DataInterval.everything())


def fake_context(home: Path, close: Callable[[], object] = lambda: None) -> SimpleNamespace:
    """A stand-in for a Context with what `cli.run_stages` touches itself: the default spec, a home,
    progress that prints nothing, no leftovers to remove, and close. For runs of stages that the
    test replaces."""
    from grocery.config import PipelineSpec

    return SimpleNamespace(
        spec=PipelineSpec(), home=home, progress=SimpleNamespace(info=lambda message: None),
        remove_leftovers=lambda: None, close=close,
    )  # fmt: skip
