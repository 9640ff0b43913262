"""One process at a time per run or search folder.

A lock file holds the owner's process id. A lock left behind by a process that
no longer exists (killed with SIGKILL, say) is taken over; a live owner is
reported by its PID. Standard library only.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

LOCK_FILE = ".lock"


class FolderLockedError(RuntimeError):
    """Another live process is using the folder; the message names its PID."""


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # Exists, owned by someone else.
        return True
    return True


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip() or "0") or None
    except (OSError, ValueError):
        return None


class FolderLock:
    """Holds `<folder>/.lock` while a run or search writes the folder.

    Use it as a context manager. The lock file is created with `O_EXCL`, so two
    processes starting at once cannot both win.

    Args:
        folder: The run or search folder (must exist).

    Raises:
        FolderLockedError: (on entry) when a live process holds the lock.
    """

    def __init__(self, folder: str | os.PathLike):
        self.path = Path(folder) / LOCK_FILE
        self._held = False

    def acquire(self) -> None:
        for _ in range(2):
            try:
                handle = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = _read_pid(self.path)
                if owner is not None and owner != os.getpid() and _process_alive(owner):
                    raise FolderLockedError(
                        f"{str(self.path.parent)!r} is in use by process {owner}; wait for it to finish "
                        f"or stop it (a lock from a dead process is taken over automatically)."
                    ) from None
                self.path.unlink(missing_ok=True)  # Stale: its owner is gone.
                continue
            with os.fdopen(handle, "w") as stream:
                stream.write(f"{os.getpid()}\n")
            self._held = True
            return
        raise FolderLockedError(f"could not take the lock {str(self.path)!r}; another process keeps recreating it.")

    def release(self) -> None:
        if self._held:
            try:
                if _read_pid(self.path) == os.getpid():
                    self.path.unlink()
            except OSError as error:
                if error.errno != errno.ENOENT:
                    raise
            self._held = False

    def __enter__(self) -> "FolderLock":
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()
