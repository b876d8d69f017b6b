"""The outputs the Spark jobs make on the driver: written as one Parquet file in place of the old folder."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq

from grocery.lake import local_uri
from grocery.spark import jobs

AS_OF = date(2018, 5, 9)


def test_rows_made_on_the_driver_replace_the_run_date_folder_whole(tmp_path):
    lake_uri = local_uri(tmp_path / "lake=1")  # named as written, as Spark reads it
    folder = tmp_path / "lake=1" / jobs.analytics_dir(jobs.RECOMMENDATION_METRICS, AS_OF)
    jobs._write_from_driver([{"k": 5, "model": "als"}, {"k": 10, "model": "als"}], lake_uri,
                            jobs.RECOMMENDATION_METRICS, AS_OF)  # fmt: skip
    assert pq.read_table(folder).to_pylist() == [{"k": 5, "model": "als"}, {"k": 10, "model": "als"}]

    scored = pa.table({"customer_id": pa.array([7], pa.int64()), "r_score": pa.array([5], pa.int32()),
                       "as_of_date": pa.array([AS_OF], pa.date32())})  # fmt: skip
    jobs._write_from_driver(scored, lake_uri, jobs.RECOMMENDATION_METRICS, AS_OF)
    assert [p.name for p in folder.iterdir()] == ["part-00000.parquet"]
    assert pq.read_table(folder).equals(scored)  # the same rows and types, and only those
    assert sorted(p.name for p in folder.parent.iterdir()) == [folder.name]  # no scratch folder left


def test_the_outputs_of_an_export_of_nothing_have_the_columns_and_types_the_jobs_write(spark, tmp_path):
    # A fact without rows: the stages write the jobs' outputs without Spark (segment_nothing,
    # recommend_nothing), to be loaded into the same analytics tables as the jobs' own.
    from grocery.config import AlsSpec, RfmSpec
    from grocery.spark.buckets import Buckets

    # Every made-up customer bought every product: recommendations only of products bought.
    buckets, als = Buckets("customer_id", 2), AlsSpec(max_iter=1, holdout_days=7, exclude_purchased=False)
    as_of = jobs._tiny_export(tmp_path / "sales", buckets)
    sales, nothing = (tmp_path / "sales").as_uri(), (tmp_path / "nothing").as_uri()
    jobs.segment_job(spark, sales, as_of, RfmSpec(), buckets=buckets)
    jobs.recommend_job(spark, sales, as_of, als, buckets=buckets)
    spark.sql(f"drop table if exists {jobs._export_table(sales, buckets)}")
    assert jobs.segment_nothing(nothing, as_of, RfmSpec())["customers"] == 0
    assert jobs.recommend_nothing(nothing, as_of, als)["customers"] == 0

    def read(lake_uri: str, table: str) -> pa.Table:
        return pq.read_table(lake_uri.removeprefix("file://") + "/" + jobs.analytics_dir(table, as_of))

    for table in jobs.ANALYTICS_TABLES:
        written, empty = read(sales, table), read(nothing, table)
        assert written.num_rows > 0
        assert [(f.name, f.type) for f in empty.schema] == [(f.name, f.type) for f in written.schema], table
        if table != jobs.RECOMMENDATION_METRICS:
            assert empty.num_rows == 0, table
    # The evaluation: the same models, K and parameters, over no one.
    evaluated, unevaluated = (read(uri, jobs.RECOMMENDATION_METRICS).to_pylist() for uri in (sales, nothing))
    scores = ("precision_at_k", "recall_at_k", "ndcg_at_k", "coverage", "users")
    assert [{**row, **dict.fromkeys(scores, 0)} for row in evaluated] == unevaluated
