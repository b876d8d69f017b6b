"""Sources deliver the seven Kaggle files into a local folder for the extract stage to land.

- `generator`: synthetic data of the real shape, deterministic for a seed (grocery.sources.generator);
- `kaggle`: the public dataset, downloaded through the `kaggle` package (grocery.sources.kaggle);
- `path`: a folder of files in that format, e.g. a retailer's own export, on this machine or in Cloud
  Storage (grocery.sources.folder).
"""

from __future__ import annotations

from pathlib import Path

from grocery.config import SourceSpec
from grocery.sources.base import Delivery, Source

__all__ = ["Delivery", "Source", "open_source"]


def open_source(spec: SourceSpec, cache_dir: Path) -> Source:
    """The source a spec names; cache_dir keeps downloads between runs."""
    if spec.kind == "generator":
        from grocery.sources.generator import GeneratorSource

        return GeneratorSource(scale=spec.scale, seed=spec.seed)
    if spec.kind == "kaggle":
        from grocery.sources.kaggle import KaggleSource

        return KaggleSource(dataset=spec.dataset, cache_dir=cache_dir / "kaggle")
    from grocery.sources.folder import BucketFolderSource, FolderSource

    assert spec.path is not None  # the spec's validator requires it for kind=path
    if spec.path.startswith("gs://"):
        return BucketFolderSource(spec.path)
    return FolderSource(Path(spec.path))
