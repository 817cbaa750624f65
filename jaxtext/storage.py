"""Folders written so that a reader never sees half of one: the old folder or the new, whole.

``replace_folder(target, write)`` has ``write(tmp)`` fill a fresh temporary folder beside the
target (so the final rename stays on one file system), flushes every file and the folder to
disk, then swaps it in:

* no target yet: one ``rename`` (atomic);
* a target: Linux's ``renameat2(RENAME_EXCHANGE)`` swaps the two folders in one system call,
  so at every instant ``target`` is the complete old folder or the complete new one; the old
  one, now in the temporary name, is deleted afterwards. Where the kernel lacks it, the old
  folder is first renamed to a backup name and restored by ``recover_folder`` (which loading
  calls) if the process dies between the two renames.

Files are created with ``O_EXCL | O_NOFOLLOW`` inside the folder this module just made, so a
symlink planted in the target can never redirect a write; a target that is itself a symlink
is refused. Leftovers of killed writers (``.NAME.saving-PID-*``) are removed by the next write
once their process is gone.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100


def _libc():
    try:
        lib = ctypes.CDLL(None, use_errno=True)
        lib.renameat2  # noqa: B018 - glibc >= 2.28 has the wrapper
        return lib
    except (OSError, AttributeError):
        return None


_LIBC = _libc()


def exchange(a: Path, b: Path) -> bool:
    """Atomically swap the paths ``a`` and ``b``; False where the system cannot."""
    if _LIBC is None:
        return False
    result = _LIBC.renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b),
                             _RENAME_EXCHANGE)
    if result == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):  # old kernel or file system
        return False
    raise OSError(err, os.strerror(err), str(b))


def write_file(folder: Path, name: str, data: bytes | str) -> None:
    """Create ``folder/name`` (never existing before, never a link), write and flush it."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)


def sync_folder(folder: Path) -> None:
    """Flush a folder's entries (new names, renames) to disk."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _leftovers(target: Path, kind: str) -> list[Path]:
    """Temporary folders ``.NAME.<kind>-PID-*`` of writers that are gone."""
    out = []
    for path in target.parent.glob(f".{target.name}.{kind}-*"):
        pid = path.name[len(f".{target.name}.{kind}-"):].split("-")[0]
        if not pid.isdigit() or not _pid_alive(int(pid)):
            out.append(path)
    return out


def recover_folder(target: Path) -> None:
    """Undo a swap interrupted between its two renames (systems without RENAME_EXCHANGE)."""
    if target.exists() or target.is_symlink():
        return
    backups = sorted(_leftovers(target, "old"), key=lambda p: p.stat().st_mtime)
    if backups:
        os.rename(backups[-1], target)


@contextlib.contextmanager
def _deferred_sigint():
    """Hold a Ctrl-C until the block ends (only the main thread receives signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if caught:
            raise KeyboardInterrupt


def replace_folder(target: Path, write: Callable[[Path], None]) -> Path:
    """Write a new version of the folder ``target`` with ``write(tmp)``, atomically.

    ``write`` gets an empty folder and should create its files with ``write_file``. If it
    raises (a Ctrl-C included), the temporary folder is removed and ``target`` is untouched.
    """
    target = Path(target)
    if target.is_symlink():
        raise OSError(errno.ELOOP, f"'{target}' is a symbolic link; save to the real folder")
    target.parent.mkdir(parents=True, exist_ok=True)
    recover_folder(target)
    for stale in _leftovers(target, "saving") + _leftovers(target, "old"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.saving-{os.getpid()}-",
                                dir=target.parent))
    try:
        write(tmp)
        sync_folder(tmp)
        with _deferred_sigint():  # a second Ctrl-C waits for the swap: old or new, never none
            _swap_in(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(tmp, ignore_errors=True)  # after an exchange it holds the old version
    return target


def _swap_in(tmp: Path, target: Path) -> None:
    if not target.exists():
        try:
            os.rename(tmp, target)
            sync_folder(target.parent)
            return
        except OSError as err:  # another writer created it meanwhile: swap with theirs
            if err.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
    if exchange(tmp, target):
        sync_folder(target.parent)
        return
    backup = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-{os.getpid()}-",
                                   dir=target.parent))
    os.rmdir(backup)
    os.rename(target, backup)
    os.rename(tmp, target)
    sync_folder(target.parent)
    shutil.rmtree(backup, ignore_errors=True)
