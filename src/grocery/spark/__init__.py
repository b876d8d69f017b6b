"""The Spark side of the pipeline: RFM segments and ALS recommendations over the exported `fct_sales`.

Modules:
- `session`: a SparkSession for local mode (loopback only, sized to the machine) or the one
  `spark-submit` already made on a cluster.
- `rfm`: pure DataFrame -> DataFrame transforms that score customers and name their segment.
- `als`: implicit-feedback ALS, distributed over customers with the product factors broadcast, its
  top-N, and the popularity baseline.
- `evaluate`: precision@K, recall@K, NDCG@K and coverage on a time-based holdout.
- `jobs`: the jobs themselves (read the lake, transform, write the lake), called in-process by the
  `segment` and `recommend` stages, on a laptop and in the driver of a cluster's spark-submit;
- `submit`: the entries in `spark_apps/`, which run a Spark stage's `grocery` command under spark-submit.
- `export`: the export of core.fct_sales to the lake, once per state of the fact (no pyspark).

Everything else here imports pyspark; the stage modules import it only when a stage runs.
"""
