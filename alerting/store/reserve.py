"""Space held back for the alarm: a file of zeros beside the SQLite store, given back when the disk fills.

A full disk used to stop every page: the events could not be committed, so nothing was paged, and pages of
open incidents could not be claimed. With a reserve, the first write that fails for lack of space deletes the
file, the write is tried again (intake holds its batch and retries) and goes through on the space set free,
and health says loudly that the store runs on its reserve. Whoever frees space gets it back: the reserve is
made again once there is room for it several times over. A filesystem only: a PostgreSQL store's disk is
the database server's (its own monitoring must watch it; health still names 'could not extend file').
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from pathlib import Path

log = logging.getLogger(__name__)
ROOM_TO_REMAKE = 4  # free space, in reserves, before the reserve is made again


class SpaceReserve:
    def __init__(self, path: str | Path, size_bytes: int):
        self.path = Path(path)
        self.size = size_bytes
        self.released_at: float | None = None  # when it was given back (the disk filled), until it is made again
        self.make()

    def make(self) -> bool:
        """Create the reserve if it is missing and there is room for it; True if it is in place."""
        if self.size <= 0:
            return False
        with contextlib.suppress(OSError):
            if self.path.stat().st_size >= self.size:
                return True
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                os.posix_fallocate(fd, 0, self.size)  # blocks really taken, not a sparse promise
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                self.path.unlink()
            log.warning("store: cannot set %d MB aside in %s (%s): a full disk will stop paging",
                        self.size // 2**20, self.path, exc)
            return False
        self.released_at = None
        return True

    def release(self) -> bool:
        """Give the space back (the disk is full); True if there was a reserve to give."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        self.released_at = time.time()
        log.error("store: the disk is full: released the %d MB reserve (%s) so events and pages go on; free space",
                  self.size // 2**20, self.path)
        return True

    def remake_if_room(self) -> None:
        if self.released_at is None or self.size <= 0:
            return
        with contextlib.suppress(OSError):
            if shutil.disk_usage(self.path.parent).free > ROOM_TO_REMAKE * self.size and self.make():
                log.warning("store: space is back; the %d MB reserve is set aside again", self.size // 2**20)
