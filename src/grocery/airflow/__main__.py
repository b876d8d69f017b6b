"""`python -m grocery.airflow sync FOLDER`: write the DAG file beside every pipeline file in FOLDER."""

from __future__ import annotations

import sys
from pathlib import Path

from grocery.airflow.dagfile import sync_dag_files

USAGE = "usage: python -m grocery.airflow sync FOLDER"


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "sync":
        print(USAGE, file=sys.stderr)
        return 2
    folder = Path(argv[1])
    if not folder.is_dir():
        print(f"error: {folder} is not a folder", file=sys.stderr)
        return 1
    written, removed = sync_dag_files(folder)
    for path in written:
        print(f"wrote {path}")
    for path in removed:
        print(f"removed {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
