"""The benchmarks' generated data: made once, and made again when the generator's code changes."""

from __future__ import annotations

from pathlib import Path

import pytest

import grocery.benchmarks.elt as elt


def test_generated_data_is_reused_until_the_generator_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[list[str]] = []

    def generate(args: list[str]) -> None:  # stands in for `grocery generate FOLDER ...`
        runs.append(args)
        folder = Path(args[args.index("generate") + 1])
        folder.mkdir(parents=True)
        (folder / "sales.csv").write_text(f"run {len(runs)}\n")

    monkeypatch.setattr(elt, "run_measured", generate)
    folder = elt._dataset(tmp_path, 0.5, 7, [])
    assert elt._dataset(tmp_path, 0.5, 7, []) == folder and len(runs) == 1  # made once
    assert "--scale" in runs[0] and "0.5" in runs[0] and "7" in runs[0]

    monkeypatch.setattr(elt, "generator_digest", lambda: "another generator")
    assert elt._dataset(tmp_path, 0.5, 7, []) == folder and len(runs) == 2
    assert (folder / "sales.csv").read_text() == "run 2\n"


def test_the_generator_digest_follows_the_generator_module(monkeypatch: pytest.MonkeyPatch) -> None:
    from grocery.sources import generator

    before = elt.generator_digest()
    assert elt.generator_digest() == before
    changed = Path(generator.__file__).read_bytes() + b"\n# changed\n"
    real_read_bytes = Path.read_bytes
    monkeypatch.setattr(
        Path, "read_bytes", lambda p: changed if str(p) == generator.__file__ else real_read_bytes(p)
    )
    assert elt.generator_digest() != before
