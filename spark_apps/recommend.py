"""spark-submit entry of the `recommend` stage (ALS): `grocery recommend` in the driver.

    spark-submit spark_apps/recommend.py --date 2018-05-09 [--config grocery.yaml]

Takes the options of `grocery recommend`; the pipeline spec may also come from $GROCERY_PIPELINE
(`grocery.spark.submit`).
"""

from __future__ import annotations

from grocery.spark.submit import main

if __name__ == "__main__":
    main("recommend")
