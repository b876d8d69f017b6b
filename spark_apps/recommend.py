"""spark-submit entry of the `recommend` job (ALS): reads exports/fct_sales, writes analytics/recommendations,
analytics/popular_products and analytics/recommendation_metrics.

    spark-submit spark_apps/recommend.py --lake gs://bucket/lake --run-date 2018-05-09 [--config grocery.yaml]

The job itself is `grocery.spark.jobs.recommend_job`, which `grocery recommend` runs in-process.
"""

from __future__ import annotations

from grocery.spark.jobs import recommend_job
from grocery.spark.submit import main

if __name__ == "__main__":
    main(
        "recommend",
        lambda spark, args, spec: recommend_job(spark, args.lake, args.run_date, spec.models.als, log=print),
    )
