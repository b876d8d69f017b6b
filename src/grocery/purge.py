"""Delete one pipeline's data: everything under its lake root and the warehouse layers it made.

    grocery purge --yes [--home H] [--config F]

What goes:
- the lake: a local folder with everything in it, or every object under a `gs://` prefix (never the
  bucket itself, which is not the pipeline's);
- the warehouse's layers (`grocery.warehouse.base.SCHEMAS`): on DuckDB the schemas, and the file when
  nothing else is left in it; on BigQuery the datasets `<datasetPrefix><layer>` with their tables.

It is idempotent: what is already gone is reported as absent, never an error, so a second purge is a
no-op. Without `--yes` the CLI only names what would go (`plan`); when nothing would, it says so in one
line (`nothing_there`) and makes nothing, not even a home that does not exist. The operator runs `grocery purge --yes`
in a Job when a GroceryPipeline with `spec.onDelete: Delete` is deleted.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from grocery.context import Context
from grocery.errors import ConfigError, StageError
from grocery.lake import exists_without_making, file_path


@dataclass
class PurgeReport:
    """What a purge deleted, and what it looked for and found gone already."""

    deleted: list[str] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        if not self.deleted:
            return f"nothing to delete: {' and '.join(self.absent)} already gone"
        return "deleted " + "; ".join(self.deleted)


def plan(ctx: Context) -> list[str]:
    """What `purge` would delete, named without touching (or creating) anything: the lake and the
    warehouse, each unless it is plain that it does not exist (a local lake's folder, a DuckDB
    file; a bucket's prefix and BigQuery's datasets are named, as asking would take a call)."""
    targets = [f"the lake {ctx.lake_uri}"] if exists_without_making(ctx.lake_uri) else []
    return targets + ([ctx.warehouse.purge_target()] if ctx.warehouse.created() else [])


def nothing_there(ctx: Context) -> str:
    """Why there is nothing to delete, when `plan` names nothing: no home at all (when the lake and
    the warehouse are the home's), or neither of them exists."""
    in_home = (
        ctx.spec.lake is None and ctx.spec.warehouse.kind == "duckdb" and ctx.spec.warehouse.path is None
    )
    if in_home and not ctx.home.exists():
        return f"nothing to delete: no home at {ctx.home}"
    return f"nothing to delete: neither the lake {ctx.lake_uri} nor the warehouse {ctx.warehouse.describe()} exists"


def purge(ctx: Context) -> PurgeReport:
    """Delete the lake and the warehouse layers of the context's pipeline; see the module docstring."""
    report = PurgeReport()
    uri = ctx.lake_uri
    try:
        with ctx.progress.step(f"deleting the lake {uri}"):
            purge_lake(uri, report)
        with ctx.progress.step("deleting the warehouse layers"):
            gone = ctx.warehouse.purge()
        report.deleted.extend(gone)
        if not gone:
            report.absent.append(ctx.warehouse.purge_target())
    finally:
        ctx.close()
    return report


def purge_lake(uri: str, report: PurgeReport) -> None:
    """Delete everything under a lake root (file:// or gs://), recording it in `report`."""
    if uri.startswith("file://"):
        _purge_local_lake(uri, file_path(uri), report)
    else:
        _purge_remote_lake(uri, report)


def _purge_local_lake(uri: str, root: Path, report: PurgeReport) -> None:
    root = root.resolve()
    if root == Path(root.anchor) or root == Path.home():
        raise ConfigError(
            f"refusing to delete the lake {uri}: it is {root}", hint="point spec.lake at a folder of its own"
        )
    if not root.exists():
        report.absent.append(f"the lake {uri}")
        return
    files = sum(1 for p in root.rglob("*") if p.is_file())
    try:
        shutil.rmtree(root)
    except OSError as exc:
        raise StageError(
            f"cannot delete the lake {uri}: {exc.strerror or exc} ({exc.filename})",
            hint="fix the folder's permissions, then run purge again: what is gone stays gone",
        ) from None
    report.deleted.append(f"the lake {uri} ({files} files)")


def _purge_remote_lake(uri: str, report: PurgeReport) -> None:
    from grocery.lake import Lake

    lake = Lake(uri)
    try:
        # Every object under the prefix (gcsfs lists `<prefix>/...` only, not a sibling `<prefix>2/`).
        objects = lake.fs.find(lake.root)
        if objects:
            lake.fs.rm(objects)
    except Exception as exc:  # gcsfs' HttpError, auth and network errors have no common base
        message = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise StageError(
            f"cannot delete the lake {uri}: {message}",
            hint="the service account needs storage.objects.list and storage.objects.delete; run purge again",
        ) from exc
    if objects:
        report.deleted.append(f"the lake {uri} ({len(objects)} objects)")
    else:
        report.absent.append(f"the lake {uri}")
