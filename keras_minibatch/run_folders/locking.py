"""One process at a time per run, search or comparison folder.

The lock is the operating system's (`fcntl.flock` on `<folder>/.lock`): it is
held while the process lives and released by the kernel when it dies, however
it dies, so there is no stale lock to judge and no PID to trust. The file keeps
the owner's process id only for the message a second process prints. The lock
file is never deleted: deleting a locked file would let a later process lock a
new file of the same name while the first still works. Standard library only.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

from keras_minibatch.run_folders.run_files import LOCK_FILE
from keras_minibatch.run_folders.rundir import RunDirError

__all__ = ["LOCK_FILE", "FolderLock", "FolderLockedError", "LockFileError", "folder_in_use"]


class FolderLockedError(RuntimeError):
    """Another live process is using the folder; the message names its PID."""


class LockFileError(RunDirError):
    """The lock file cannot be created or opened (a read-only or full disk, say); the message names it."""


def _owner_description(path: Path) -> str:
    try:
        text = path.read_text(encoding="ascii", errors="replace").strip()
    except OSError:
        text = ""
    return f"process {text}" if text.isdigit() and len(text) < 20 else "another process"


class FolderLock:
    """Holds the OS lock of `<folder>/.lock` while a process writes the folder.

    Use it as a context manager, or call `acquire()` and `release()`.

    Args:
        folder: The run, search or comparison folder (must exist).

    Raises:
        FolderLockedError: (on entry) when another live process holds the lock.
        LockFileError: (on entry) when the lock file cannot be opened for writing.
    """

    def __init__(self, folder: str | os.PathLike):
        self.path = Path(folder) / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> None:
        if self._fd is not None:
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)  # The umask applies.
        except OSError as error:
            raise LockFileError(
                f"cannot lock --workdir {str(self.path.parent)!r}: cannot create {str(self.path)!r} ({error.strerror}); "
                "make the folder writable, or choose another --workdir."
            ) from error
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            os.close(fd)
            if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise FolderLockedError(
                    f"{str(self.path.parent)!r} is in use by {_owner_description(self.path)}; wait for it to finish, "
                    "stop it, or choose another folder."
                ) from None
            raise LockFileError(f"cannot lock {str(self.path)!r} ({error.strerror}).") from error
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        except OSError:
            pass  # The PID is only for the message; a full disk must not stop the lock.
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # Closing the last descriptor releases the flock.
            self._fd = None

    def __enter__(self) -> "FolderLock":
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def folder_in_use(folder: str | os.PathLike) -> bool:
    """Whether a live process holds `folder`'s lock now (a look, not a claim: the lock is let go at once)."""
    try:
        fd = os.open(Path(folder) / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return False  # no lock file: nobody ever ran here
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # releases the shared lock, if taken
    return False
