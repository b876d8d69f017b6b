"""spark-submit entry of the `segment` job (RFM): reads exports/fct_sales, writes analytics/customer_rfm.

    spark-submit spark_apps/segment.py --lake gs://bucket/lake --run-date 2018-05-09 [--config grocery.yaml]

The job itself is `grocery.spark.jobs.segment_job`, which `grocery segment` runs in-process.
"""

from __future__ import annotations

from grocery.spark.jobs import segment_job
from grocery.spark.submit import main

if __name__ == "__main__":
    main(
        "segment",
        lambda spark, args, spec: segment_job(spark, args.lake, args.run_date, spec.models.rfm, print),
    )
