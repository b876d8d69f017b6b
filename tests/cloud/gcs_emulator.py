"""The Cloud Storage emulator of tests/cloud: gcp-storage-emulator on 127.0.0.1, sharing its disk with bqemulator.

Run as a process of its own by the `gcs` fixture (conftest.py):

    python tests/cloud/gcs_emulator.py --port P --data-dir D [--bucket NAME]

Objects live on disk at `D/.cloudstorage/<bucket>/<object name>`, byte for byte. bqemulator does not
call Cloud Storage: it resolves `gs://bucket/path` to `$BQEMU_GCS_LOCAL_ROOT/bucket/path`. With that
root set to `D/.cloudstorage`, both emulators see one bucket: BigQuery load jobs read the Parquet
files the pipeline uploaded through the Cloud Storage API, unchanged.

The other direction needs one emulator-only shim, here and nowhere else: files bqemulator writes
(`EXPORT DATA`) appear on disk without the emulator's object metadata, so the GCS API would not list
them. Before serving any object request, `SharedDiskStorage` adopts every file of the bucket's
folder that it has no metadata for (with the checksums an upload would get) and forgets metadata
whose file is gone. On Google Cloud the two services share the real bucket and none of this exists.
"""

from __future__ import annotations

import argparse
import logging
import mimetypes
import os
import signal
import sys
import threading
from pathlib import Path

from gcp_storage_emulator import server as gcs_server
from gcp_storage_emulator.handlers import buckets, objects
from gcp_storage_emulator.storage import Storage

# Top-level folders of the emulator's store that are not buckets.
_INTERNAL = {"_resumable", "_softdelete"}


class SharedDiskStorage(Storage):
    """Disk storage that also serves the files another process wrote into a bucket's folder."""

    base_url = "http://127.0.0.1"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._stat: dict[tuple[str, str], tuple[int, int]] = {}  # what each object's file was when described

    def _file(self, bucket_name: str, file_name: str) -> Path:
        return Path(self._store._root) / bucket_name / file_name

    def _remember(self, bucket_name: str, file_name: str) -> None:
        st = self._file(bucket_name, file_name).stat()
        self._stat[bucket_name, file_name] = (st.st_size, st.st_mtime_ns)

    def create_file(self, bucket_name, file_name, content, file_obj, file_id=None):
        super().create_file(bucket_name, file_name, content, file_obj, file_id)
        self._remember(bucket_name, file_name)

    def adopt(self, bucket_name: str) -> None:
        """Describe files written or rewritten behind the API's back; forget objects whose file is gone."""
        if bucket_name not in self.buckets or bucket_name in _INTERNAL:
            return
        folder = Path(self._store._root) / bucket_name
        known = self.objects.setdefault(bucket_name, {})
        changed = False
        on_disk: set[str] = set()
        for path in folder.rglob("*") if folder.is_dir() else ():
            if not path.is_file():
                continue
            name = path.relative_to(folder).as_posix()
            on_disk.add(name)
            st = path.stat()
            seen = self._stat.get((bucket_name, name))
            if name in known and seen in (None, (st.st_size, st.st_mtime_ns)):
                self._stat[bucket_name, name] = (st.st_size, st.st_mtime_ns)
                continue
            content = path.read_bytes()
            content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
            obj = objects._make_object_resource(
                self.base_url, bucket_name, name, content_type, str(len(content))
            )
            known[name] = objects._checksums(content, obj)
            self._stat[bucket_name, name] = (st.st_size, st.st_mtime_ns)
            changed = True
        for name in [n for n in known if n not in on_disk]:
            del known[name]
            self._stat.pop((bucket_name, name), None)
            changed = True
        if changed:
            self._write_config_to_file()

    def get_file_list(self, bucket_name, *args, **kwargs):
        self.adopt(bucket_name)
        return super().get_file_list(bucket_name, *args, **kwargs)

    def get_file_obj(self, bucket_name, file_name):
        self.adopt(bucket_name)
        return super().get_file_obj(bucket_name, file_name)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--bucket", action="append", default=[], help="Bucket to create at start.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.CRITICAL)

    data_dir = args.data_dir.resolve()
    server = gcs_server.Server("127.0.0.1", args.port, in_memory=False, data_dir=str(data_dir))
    storage = SharedDiskStorage(use_memory_fs=False, data_dir=str(data_dir))
    storage.base_url = f"http://127.0.0.1:{args.port}"
    server._storage = storage
    server._api._storage = storage
    for bucket in args.bucket:
        if storage.get_bucket(bucket) is None:
            buckets.create_bucket(bucket, storage)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    print(f"ready http://127.0.0.1:{args.port} {data_dir / '.cloudstorage'}", flush=True)
    stop.wait()
    server.stop()
    sys.exit(0)


if __name__ == "__main__":
    os.environ.setdefault("NO_GCE_CHECK", "True")
    main()
