"""Writing a run's files through Beam's FileSystems (local, gs://, ...): complete or not at all."""

from __future__ import annotations

import os
import uuid

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from quality import outputs


def create_file(path: str, mime_type: str = "application/octet-stream"):
    """FileSystems.create without Beam's compression-by-extension: bytes land as written. On the
    local file system the file appears under its name only once it is complete
    (`_CompleteOrNothing`); an object store's upload is already all or nothing."""
    if FileSystems.get_scheme(path) is None:
        return _CompleteOrNothing(path, mime_type)
    return FileSystems.create(path, mime_type=mime_type, compression_type=CompressionTypes.UNCOMPRESSED)


class _CompleteOrNothing:
    """A local file written under a temporary name beside its own (`outputs.PARTIAL_MARK`) and
    renamed into place when closed without an error, so a full disk or a failed or killed
    worker never leaves a truncated file under an output's name. A failed write removes its
    temporary file; a killed one leaves it, and the next run into the folder clears it."""

    def __init__(self, path: str, mime_type: str):
        folder, name = os.path.split(path)
        self.path = path
        self.partial = os.path.join(folder, f".{name}{outputs.PARTIAL_MARK}{uuid.uuid4().hex[:12]}")
        self.handle = FileSystems.create(self.partial, mime_type=mime_type,
                                         compression_type=CompressionTypes.UNCOMPRESSED)

    def write(self, data):
        return self.handle.write(data)

    def flush(self):
        self.handle.flush()

    def close(self):
        self.handle.close()
        os.replace(self.partial, self.path)

    def discard(self):
        try:
            self.handle.close()
        finally:
            if os.path.exists(self.partial):
                os.remove(self.partial)

    def __enter__(self):
        return self

    def __exit__(self, kind, error, tb):
        if kind is None:
            self.close()
        else:
            self.discard()
        return False
