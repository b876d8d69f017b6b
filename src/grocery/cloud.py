"""Google Cloud endpoints from the environment, so one configuration reaches GCP or local emulators.

Nothing here is needed on Google Cloud itself: with none of these variables set, the GCS lake
(gcsfs) and the BigQuery warehouse use Google's endpoints and Application Default Credentials
(Workload Identity on GKE). Pointing the same pipeline at emulators, or at a private endpoint, is
a matter of environment variables, never of code or of the pipeline spec:

- `GROCERY_GCS_ENDPOINT`, else `STORAGE_EMULATOR_HOST` (the variable Google's own clients read):
  the Cloud Storage endpoint of a `gs://` lake, e.g. `http://127.0.0.1:9023`.
- `GROCERY_GCS_TOKEN`: gcsfs' `token`; `anon` by default when an endpoint is set (an emulator takes
  no credentials, and looking for some would probe the metadata server), else `google_default`:
  Application Default Credentials or a clear error at once. (gcsfs' own default falls back to
  anonymous access, and a lake reached anonymously fails only later, after six retries.)
- `GROCERY_GCS_PROJECT`: the project gcsfs bills requests to (only bucket listings need it).
- `GROCERY_BQ_API_ENDPOINT`: the BigQuery API endpoint, when the pipeline spec's
  `warehouse.apiEndpoint` is empty, e.g. `http://127.0.0.1:9050`. The transform stage hands it to
  dbt's `bigquery` profile as well.

Used by `grocery.lake.Lake` (a `gs://` lake's filesystem options) and
`grocery.warehouse.bigquery.BigQueryWarehouse.from_spec`. `cloud_failure` tells the CLI which
failures of Google's clients are the user's to fix (credentials, access, network), so they get one
line instead of a traceback.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from grocery.errors import GroceryError

GCS_ENDPOINT_ENV = "GROCERY_GCS_ENDPOINT"
GCS_EMULATOR_ENV = "STORAGE_EMULATOR_HOST"
GCS_TOKEN_ENV = "GROCERY_GCS_TOKEN"
GCS_PROJECT_ENV = "GROCERY_GCS_PROJECT"
BQ_API_ENDPOINT_ENV = "GROCERY_BQ_API_ENDPOINT"

# gcsfs 2026.10 hangs at import unless its experimental zonal/HNS bucket support is switched off;
# set before gcsfs is first imported (fsspec imports it for the first gs:// filesystem).
os.environ.setdefault("GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT", "false")
# gcsfs logs a request that ran out of retries with its traceback (`logger.exception`) before it
# raises the error, which the CLI then reports in one line (`cloud_failure`): without a handler of
# the application's, Python printed those tracebacks to stderr. The error itself still comes through.
logging.getLogger("gcsfs").setLevel(logging.CRITICAL)


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
    else:
        options["token"] = _env(GCS_TOKEN_ENV) or "google_default"
    if project := _env(GCS_PROJECT_ENV):
        options["project"] = project
    return options


def bigquery_api_endpoint() -> str | None:
    """The BigQuery API endpoint to use instead of Google's, or None."""
    return _env(BQ_API_ENDPOINT_ENV)


_FAILURES = {  # what the message says, and what to do about it
    "credentials": (
        "no usable Google Cloud credentials",
        "run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS to a key file; "
        "on GKE, check the Workload Identity binding of the pod's service account",
    ),
    "access": (
        "Google Cloud refused access",
        "grant the account the pipeline runs as access to the lake's bucket and the BigQuery datasets",
    ),
    "network": (
        "cannot reach Google Cloud",
        f"check the network, and {GCS_ENDPOINT_ENV} / {BQ_API_ENDPOINT_ENV} if you meant to use emulators",
    ),
}
_MAX_DETAIL = 240


def cloud_failure(exc: BaseException) -> GroceryError | None:
    """A failure of Google's clients that the user can fix, as one line: no usable credentials, no
    access, or no way to reach Google. None for anything else (a bug keeps its traceback)."""
    kind = _failure_kind(exc)
    if kind is None:
        return None
    what, hint = _FAILURES[kind]
    detail = " ".join(str(exc).split()) or type(exc).__name__
    if len(detail) > _MAX_DETAIL:
        detail = detail[: _MAX_DETAIL - 3] + "..."
    return GroceryError(f"{what}: {detail}", hint=hint)


def _failure_kind(exc: BaseException) -> str | None:
    """credentials, access or network, by the exception's type: Google's auth and API errors, and
    what gcsfs (over aiohttp) and the BigQuery client (over requests) raise."""
    try:  # the `gcp` extra; without it nothing of Google's can have failed
        import aiohttp
        import requests
        from gcsfs.retry import HttpError
        from google.api_core import exceptions as api
        from google.auth import exceptions as auth
    except ImportError:
        return None
    if isinstance(
        exc,
        auth.TransportError | api.ServiceUnavailable | api.RetryError
        | aiohttp.ClientConnectionError | requests.exceptions.ConnectionError,
    ):  # fmt: skip
        return "network"
    if isinstance(exc, auth.GoogleAuthError | api.Unauthorized) or (
        isinstance(exc, HttpError) and exc.code == 401
    ):
        return "credentials"
    if isinstance(exc, api.Forbidden) or (type(exc) is OSError and str(exc).startswith("Forbidden: ")):
        return "access"  # gcsfs answers a 403 with a plain OSError
    return None
