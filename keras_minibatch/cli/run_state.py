"""What the running command has claimed: read by the report when it fails or is interrupted.

The commands set these as they go; `errors.run_with_clean_errors` clears them before
each command and reads them afterwards (the resume hint after Ctrl-C, the note that a
folder keeps its completed epochs, removing a default folder nothing was written into).
"""

from __future__ import annotations

# The folder the current command writes: for the resume hint after Ctrl-C.
run_folder: str | None = None
# How an interrupted command's folder continues: None for `--resume`, else what to say instead.
not_resumable: str | None = None
# A default folder this command created: removed again if the command fails before writing into it.
created_folder: str | None = None
# The command line as given to `run`, for the resume hint (None: `sys.argv`).
original_argv: list[str] | None = None


def clear() -> None:
    """Forgets the previous command's folders (not `original_argv`: `run` sets it once per process)."""
    global run_folder, not_resumable, created_folder
    run_folder = created_folder = not_resumable = None
