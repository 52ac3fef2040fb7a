"""Files handled like a careful database handles them.

Reading: only regular files (a FIFO would block the open or the read forever, a
device such as /dev/zero never ends, a directory is a mistake), opened without
blocking and checked with ``fstat`` before a byte is read, and never more than
the size that makes sense for what the file is (a board file, a script, an
ELF): a bad path is one line, not a hang or a 3 GB MemoryError.

Writing: a temporary file in the target's own directory (named with our pid, so
a later writer can tell a dead process's leftovers from a live one's), fsync,
rename over the target, fsync the directory: a crash leaves the old file or the
new one, never half of one. A symlink is followed and its target replaced (the
link stays a link); the target keeps its permission bits, and a new file is
0600 (a flash image holds the heap: the user's data).
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from pathlib import Path

from .errors import UsageError

KiB, MiB = 1 << 10, 1 << 20
# What a file can reasonably be, by kind (the largest of each seen is far below).
LIMITS = {"board file": 1 * MiB, "script": 64 * MiB, "firmware": 256 * MiB, "snapshot": 1024 * MiB,
          "Intel HEX file": 256 * MiB}
NEW_FILE_MODE = 0o600


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def open_regular(path: str | os.PathLike, what: str):
    """Open ``path`` for reading (binary, unbuffered) if it is a regular file; else
    one UsageError line. FileNotFoundError passes through for callers that treat
    an absent file as a state (an erased flash)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise
    except OSError as e:
        raise UsageError(f"cannot read {what} {path}: {e.strerror or e}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise UsageError(f"{what} {path} is {_kind(st.st_mode)}, not a regular file")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb", buffering=0)


def check_regular_or_absent(path: str | os.PathLike, what: str) -> None:
    """Refuse a path that exists and is not a regular file (symlinks followed)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return
    except OSError as e:
        raise UsageError(f"cannot read {what} {path}: {e.strerror or e}") from None
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{what} {path} is {_kind(st.st_mode)}, not a regular file")


def read_bytes(path: str | os.PathLike, what: str, limit: int | None = None) -> bytes:
    """The whole of a regular file of at most ``limit`` bytes (default: by ``what``)."""
    limit = LIMITS.get(what, 64 * MiB) if limit is None else limit
    try:
        f = open_regular(path, what)
    except FileNotFoundError:
        raise UsageError(f"cannot read {what} {path}: file not found") from None
    with f:
        size = os.fstat(f.fileno()).st_size
        if size > limit:
            raise UsageError(f"{what} {path} is {size} bytes: more than any {what} can be ({limit})")
        try:
            data = read_up_to(f, limit + 1)
        except OSError as e:
            raise UsageError(f"cannot read {what} {path}: {e.strerror or e}") from None
    if len(data) > limit:
        raise UsageError(f"{what} {path} grew past {limit} bytes while being read")
    return data


def read_text(path: str | os.PathLike, what: str, limit: int | None = None) -> str:
    data = read_bytes(path, what, limit)
    try:
        return data.decode()
    except UnicodeDecodeError:
        raise UsageError(f"{what} {path} is not a UTF-8 text file") from None


def read_up_to(f, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        chunk = f.read(min(n - len(out), 1 * MiB))
        if not chunk:
            break
        out += chunk
    return bytes(out)


def resolve(path: str | os.PathLike) -> Path:
    """The file a write to ``path`` must replace: symlinks followed (a dangling one
    to where it points)."""
    return Path(os.path.realpath(path))


def temp_name(target: Path) -> Path:
    return target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def write_atomically(path: str | os.PathLike, data: bytes | bytearray | memoryview, what: str = "file") -> None:
    """Replace ``path`` (or the file its symlink names) with ``data``, all or nothing."""
    target = resolve(path)
    try:
        st = os.stat(target)
    except FileNotFoundError:
        mode = NEW_FILE_MODE
    except OSError as e:
        raise UsageError(f"cannot write {what} {path}: {e.strerror or e}") from None
    else:
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"cannot write {what} {path}: it is {_kind(st.st_mode)}, not a regular file")
        mode = stat.S_IMODE(st.st_mode)
    tmp = temp_name(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, NEW_FILE_MODE)
    except OSError as e:
        raise UsageError(f"cannot write {what} {path}: {e.strerror or e}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"cannot write {what} {path}: {e.strerror or e}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)


def fsync_dir(directory: Path) -> None:
    """Make a rename in ``directory`` durable (some filesystems refuse: then it is not)."""
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Delete temporary files that a writer of ``path`` killed mid-save left behind
    (``.<name>.<pid>.<token>.tmp`` of a process that no longer runs, and the older
    ``.<name>.<random>.tmp`` form, which no running mpsim makes any more). Call it
    holding the file's write lock. Returns what was removed."""
    target = resolve(path)
    removed = []
    try:
        candidates = list(target.parent.glob(f".{_glob_escape(target.name)}.*.tmp"))
    except OSError:
        return removed
    for tmp in candidates:
        middle = tmp.name[len(target.name) + 2:-len(".tmp")]
        pid_text = middle.split(".")[0] if "." in middle else ""
        if pid_text.isdigit() and _alive(int(pid_text)):
            continue
        try:
            if stat.S_ISREG(os.lstat(tmp).st_mode):
                tmp.unlink()
                removed.append(tmp)
        except OSError:
            pass
    return removed


def _glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError as e:
        return e.errno != errno.ESRCH
    return True
