"""The GroceryPipeline operator's logic: kopf handlers, the Airflow and Kubernetes clients it uses,
status building, and the CRD generated from `PipelineSpec`.

`kopf run operator/main.py` loads the thin face, which reads `Settings` from the environment once and
calls `grocery.operator.handlers.register`. Needs the `operator` extra (kopf, httpx).
"""
