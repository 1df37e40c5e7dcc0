"""Library errors. Every message is one line that names the file, row or field at fault."""


class ClueError(Exception):
    """Base class: the CLI prints ``str(error)`` on one line and exits non-zero."""

    exit_code = 1


class InputError(ClueError):
    """A user-supplied file or value is missing or malformed."""


class ChecksumError(ClueError):
    """A file's sha256 differs from the pinned one."""


class NotReadyError(ClueError):
    """A prerequisite step (data build, protocol fetch, asset fetch) has not been run."""
