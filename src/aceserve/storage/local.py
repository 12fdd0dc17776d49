"""Files in a local directory: the default, needing no other service."""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from aceserve.storage.base import FileMissing, check_aware, check_key, is_key

log = logging.getLogger("aceserve.storage")


class LocalFileStorage:
    """Stores each key as a file under ``root`` (created on first write).

    Writes go to a temporary file in the target's directory, are flushed to disk, then renamed over
    the target: a reader (or a crash) sees the old file or the new one, never a torn one. The
    content type is not kept: the file's extension says it when the file is served.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # A leading dot can never be a key (see check_key), so temporary files never collide with one.
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.chmod(temporary, 0o644)  # mkstemp makes 0600; other processes (a web server) may serve it
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        _fsync_directory(path.parent)  # the rename itself survives a crash only once its directory is synced

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise FileMissing(key) from exc

    def open_path(self, key: str) -> Path | None:
        path = self._path(key)
        return path if path.is_file() else None

    def delete(self, key: str) -> None:
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            self._path(key).unlink()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list_keys(self, *, older_than: datetime) -> Iterator[str]:
        """Walk the root one directory at a time, by modification time (``st_mtime``).

        Skipped: temporary files and other dot names (never keys), names :func:`check_key` refuses,
        and symbolic links of any kind, which are neither listed nor followed, so nothing outside
        the root (nor any file twice) is ever offered for deletion. Files or directories removed
        during the walk are simply not listed; a subdirectory that cannot be read is logged and
        skipped, while an unreadable root raises.
        """
        cutoff = check_aware(older_than).timestamp()
        pending: list[tuple[str, str]] = [(os.fspath(self.root), "")]
        while pending:
            directory, prefix = pending.pop()
            try:
                entries = os.scandir(directory)
            except (FileNotFoundError, NotADirectoryError):
                continue  # the root before the first write, or a directory removed meanwhile
            except PermissionError:
                if not prefix:
                    raise
                log.warning("cannot list %s; its files are skipped", directory)
                continue
            with entries:
                for entry in entries:
                    key = prefix + entry.name
                    if entry.name.startswith(".") or not is_key(key):
                        continue  # ".<name>.<random>.tmp" from put, or something this store never wrote
                    try:
                        info = entry.stat(follow_symlinks=False)  # the entry itself, never a link's target
                    except FileNotFoundError:
                        continue
                    if stat.S_ISDIR(info.st_mode):
                        pending.append((entry.path, key + "/"))
                    elif stat.S_ISREG(info.st_mode) and info.st_mtime < cutoff:
                        yield key


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # not every platform opens directories (Windows); the write is still atomic
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
