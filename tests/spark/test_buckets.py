"""The bucketed export: Spark's own bucket of every customer, and grouping by customer without a shuffle."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from grocery.spark import als, jobs, rfm
from grocery.spark.buckets import Buckets, murmur3_long
from grocery.warehouse.duckdb import DuckDBWarehouse

AS_OF = date(2018, 5, 9)


def test_buckets_are_the_ones_spark_gives(spark):
    ids = np.concatenate([np.arange(-50, 3000), [2**31, -(2**31) - 1, 2**40 + 7, 2**63 - 1, -(2**63)]])
    frame = spark.createDataFrame([(int(i),) for i in ids], "id long")
    for count in (2, 5, 7):
        expected = dict(frame.select("id", F.expr(f"pmod(hash(id), {count})")).collect())
        assert dict(zip(ids.tolist(), Buckets("id", count).of(ids).tolist(), strict=True)) == expected
        null = spark.sql(f"select pmod(hash(cast(null as bigint)), {count})").first()[0]
        assert Buckets("id", count).null_bucket == null
    assert dict(zip(ids.tolist(), murmur3_long(ids).tolist(), strict=True)) == dict(
        frame.select("id", F.hash("id")).collect()
    )


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    """A lake whose export of a fact (40 customers, some lines of transactions of several lines) is
    bucketed by DuckDB."""
    root = tmp_path_factory.mktemp("bucketed")
    warehouse = DuckDBWarehouse(root / "warehouse.duckdb")
    warehouse.con.execute(
        "create table core.fct_sales as select i as sales_id, 100 + (i * 7) % 40 as customer_id, "
        "date '2018-05-09' - cast(i % 60 as integer) as sales_date, 1 + i % 9 as product_id, "
        "(i % 5) * 1.5 as net_revenue, "
        "case when i % 3 = 0 then 'T' || (100 + (i * 7) % 40) || '-' || (i % 4) end as multi_line_transaction "
        "from range(1, 2000) t(i)"
    )
    buckets = warehouse.export_table(
        "core.fct_sales", f"{(root / 'lake').as_uri()}/exports/fct_sales", Buckets("customer_id", 3)
    )
    warehouse.close()
    return (root / "lake").as_uri(), buckets


def _plan(df) -> str:
    return df._jdf.queryExecution().executedPlan().toString()


def test_a_bucketed_export_is_grouped_by_customer_without_a_shuffle(spark, lake):
    lake_uri, buckets = lake
    bucketed = jobs.read_sales(spark, lake_uri, buckets)
    plain = jobs.read_sales(spark, lake_uri)
    n = jobs.partitions(spark, buckets)
    assert n == 3
    for sales, shuffled in ((bucketed, False), (plain, True)):
        totals = rfm.customer_totals(sales, AS_OF, n)
        assert ("Exchange hashpartitioning" in _plan(totals)) is shuffled
    assertDataFrameEqual(rfm.customer_totals(bucketed, AS_OF, n), rfm.customer_totals(plain, AS_OF, n))

    packed = {}
    for name, sales in (("bucketed", bucketed), ("plain", plain)):
        lines = sales.select("customer_id", "product_id", "sales_date")
        pack = als.pack(lines, AS_OF, AS_OF - timedelta(days=7), n)
        packed[name] = (pack.items.tolist(), pack.customers, pack.buyers)
        pack.unpersist()
    assert packed["bucketed"] == packed["plain"] == (list(range(1, 10)), 40, 40)


def test_a_rewritten_export_is_read_anew(spark, tmp_path):
    # Spark keeps a table's file listing: a new export with other files must still be read whole.
    warehouse = DuckDBWarehouse(tmp_path / "warehouse.duckdb")
    lake_uri = (tmp_path / "lake").as_uri()
    buckets = Buckets("customer_id", 2)
    counts = []
    for customers in ("5", "i"):  # one customer (one file), then 25 (both files)
        warehouse.con.execute(
            f"create or replace table core.fct_sales as select i as sales_id, {customers} as customer_id "
            "from range(25) t(i)"
        )
        for file in (tmp_path / "lake" / "exports" / "fct_sales").glob("*.parquet"):
            file.unlink()
        warehouse.export_table("core.fct_sales", f"{lake_uri}/exports/fct_sales", buckets)
        files = len(list((tmp_path / "lake" / "exports" / "fct_sales").glob("*.parquet")))
        counts.append((files, jobs.read_sales(spark, lake_uri, buckets).count()))
    warehouse.close()
    assert counts == [(1, 25), (2, 25)]
