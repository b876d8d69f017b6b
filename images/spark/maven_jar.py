"""Fetch one jar from a Maven repository into a folder, checked against the checksum published beside it.

    python maven_jar.py GROUP:ARTIFACT:VERSION[:CLASSIFIER] DEST_DIR [--repo URL]

The Spark image uses it for the jars Spark needs that are not on PyPI (Google's Cloud Storage
connector). Standard library only: it runs in the image's build stage, before anything is
installed. The repository's `.sha1` file guards against a broken or cut download; Maven Central
serves both over HTTPS. Any failure is one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import urllib.request
from pathlib import Path

MAVEN_CENTRAL = "https://repo1.maven.org/maven2"


def jar_url(coordinate: str, repo: str = MAVEN_CENTRAL) -> str:
    """The URL of a jar given as group:artifact:version[:classifier]."""
    parts = coordinate.split(":")
    if len(parts) not in (3, 4) or not all(parts):
        raise ValueError(f"not a Maven coordinate group:artifact:version[:classifier]: {coordinate!r}")
    group, artifact, version, *classifier = parts
    name = "-".join([artifact, version, *classifier]) + ".jar"
    return f"{repo.rstrip('/')}/{group.replace('.', '/')}/{artifact}/{version}/{name}"


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as response:
        return response.read()


def fetch(coordinate: str, dest: Path, repo: str = MAVEN_CENTRAL) -> Path:
    """Download the jar into dest (kept only if its SHA-1 matches the repository's); its path."""
    url = jar_url(coordinate, repo)
    data = _get(url)
    published = _get(url + ".sha1").decode("ascii", "replace").split()
    actual = hashlib.sha1(data, usedforsecurity=False).hexdigest()
    if not published or published[0].lower() != actual:
        expected = published[0] if published else "nothing"
        raise ValueError(f"{url}: SHA-1 {actual} does not match the published {expected}")
    target = dest / url.rsplit("/", 1)[1]
    dest.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("coordinate", help="group:artifact:version[:classifier]")
    parser.add_argument("dest", type=Path, help="the folder to put the jar in")
    parser.add_argument(
        "--repo", default=MAVEN_CENTRAL, help=f"the Maven repository (default {MAVEN_CENTRAL})"
    )
    args = parser.parse_args(argv)
    try:
        target = fetch(args.coordinate, args.dest, args.repo)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{target} ({target.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
