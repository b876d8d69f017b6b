"""Google Cloud endpoints from the environment, so one configuration reaches GCP or local emulators.

Nothing here is needed on Google Cloud itself: with none of these variables set, the GCS lake
(gcsfs) and the BigQuery warehouse use Google's endpoints and Application Default Credentials
(Workload Identity on GKE). Pointing the same pipeline at emulators, or at a private endpoint, is
a matter of environment variables, never of code or of the pipeline spec:

- `GROCERY_GCS_ENDPOINT`, else `STORAGE_EMULATOR_HOST` (the variable Google's own clients read):
  the Cloud Storage endpoint of a `gs://` lake, e.g. `http://127.0.0.1:9023`.
- `GROCERY_GCS_TOKEN`: gcsfs' `token` for that endpoint; `anon` by default when an endpoint is
  set (an emulator takes no credentials, and looking for some would probe the metadata server).
- `GROCERY_GCS_PROJECT`: the project gcsfs bills requests to (only bucket listings need it).
- `GROCERY_BQ_API_ENDPOINT`: the BigQuery API endpoint, when the pipeline spec's
  `warehouse.apiEndpoint` is empty, e.g. `http://127.0.0.1:9050`. The transform stage hands it to
  dbt's `bigquery` profile as well.

Used by `grocery.lake.Lake` (a `gs://` lake's filesystem options) and
`grocery.warehouse.bigquery.BigQueryWarehouse.from_spec`.
"""

from __future__ import annotations

import os
from typing import Any

GCS_ENDPOINT_ENV = "GROCERY_GCS_ENDPOINT"
GCS_EMULATOR_ENV = "STORAGE_EMULATOR_HOST"
GCS_TOKEN_ENV = "GROCERY_GCS_TOKEN"
GCS_PROJECT_ENV = "GROCERY_GCS_PROJECT"
BQ_API_ENDPOINT_ENV = "GROCERY_BQ_API_ENDPOINT"

# gcsfs 2026.10 hangs at import unless its experimental zonal/HNS bucket support is switched off;
# set before gcsfs is first imported (fsspec imports it for the first gs:// filesystem).
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")


def _env(name: str) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or None


def gcs_endpoint() -> str | None:
    """The Cloud Storage endpoint to use instead of Google's, or None (`host:port` means http)."""
    endpoint = _env(GCS_ENDPOINT_ENV) or _env(GCS_EMULATOR_ENV)
    if endpoint and "://" not in endpoint:
        endpoint = f"http://{endpoint}"
    return endpoint


def gcs_storage_options() -> dict[str, Any]:
    """gcsfs options for a `gs://` lake, from the environment.

    Listings are never cached: other processes write the lake too (BigQuery's EXPORT DATA, Spark),
    and a cached listing would hide their files from this one.
    """
    options: dict[str, Any] = {"use_listings_cache": False}
    endpoint = gcs_endpoint()
    if endpoint:
        options["endpoint_url"] = endpoint
        options["token"] = _env(GCS_TOKEN_ENV) or "anon"
    elif token := _env(GCS_TOKEN_ENV):
        options["token"] = token
    if project := _env(GCS_PROJECT_ENV):
        options["project"] = project
    return options


def bigquery_api_endpoint() -> str | None:
    """The BigQuery API endpoint to use instead of Google's, or None."""
    return _env(BQ_API_ENDPOINT_ENV)
