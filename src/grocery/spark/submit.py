"""The command line shared by the `spark_apps/` entries: --lake URI --run-date D [--config FILE].

Under spark-submit the session comes from spark-submit's own configuration; run with plain `python`
it is a local session like the CLI's. The job's result is printed as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from grocery.config import PipelineSpec, load_spec
from grocery.errors import GroceryError


def parse_args(job: str, argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=f"spark_apps/{job}.py", description=f"The grocery {job} Spark job.")
    parser.add_argument("--lake", required=True, help="Lake URI: file:///path or gs://bucket/prefix.")
    parser.add_argument("--run-date", required=True, type=date.fromisoformat, help="As-of date (YYYY-MM-DD).")
    parser.add_argument(
        "--config", type=Path, help="Pipeline spec for the model parameters (default: defaults)."
    )
    return parser.parse_args(argv)


def main(
    job: str, run: Callable[[Any, argparse.Namespace, PipelineSpec], dict], argv: list[str] | None = None
) -> None:
    from grocery.spark.session import get_session

    args = parse_args(job, argv)
    try:
        spec = load_spec(args.config) if args.config else PipelineSpec()
        result = run(get_session(f"grocery-{job}"), args, spec)
    except GroceryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    print(json.dumps(result, default=str))
