"""grocery: a retail sales analytics pipeline (lake, validated load, dbt, Spark RFM and ALS, dashboard)."""

__version__ = "0.1.0"
