"""The outputs the Spark jobs make on the driver: written as one Parquet file in place of the old folder."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pyarrow.parquet as pq

from grocery.spark import jobs

AS_OF = date(2018, 5, 9)


def test_rows_made_on_the_driver_replace_the_run_date_folder_whole(tmp_path):
    lake_uri = (tmp_path / "lake=1").as_uri()  # percent-encoded in the URI, as Path.as_uri() makes it
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
