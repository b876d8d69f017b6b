"""The GroceryPipeline operator, as `kopf run` loads it:

    GROCERY_AIRFLOW_URL=http://airflow-api-server.airflow:8080 GROCERY_AIRFLOW_SECRET=airflow-api \
        kopf run --all-namespaces operator/main.py

Settings come from GROCERY_* environment variables, read once, here (see grocery.operator.settings);
a missing or bad one stops the operator with one line naming it. The logic lives in grocery.operator.
This folder is not a package on purpose: a package named `operator` would shadow the standard library.
"""

from grocery.errors import ConfigError
from grocery.operator.handlers import register
from grocery.operator.settings import Settings

try:
    SETTINGS = Settings.from_env()
except ConfigError as exc:
    raise SystemExit(f"error: {exc}") from None

register(SETTINGS)
