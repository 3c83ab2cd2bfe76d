"""Writing run folders safely: atomic writes, so that a reader sees the old file or the new one,
never half of one; and one process at a time training into a folder (:func:`trainer_lock`)."""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import socket
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ssgan.errors import SSGANError, first_line

try:
    import fcntl
except ImportError:  # no advisory locks (Windows): runs train unguarded
    fcntl = None

LOCK = ".lock"  # in a run folder: held by the process that trains into it, which it names


@contextmanager
def trainer_lock(run_dir: str | os.PathLike) -> Iterator[None]:
    """Hold ``run_dir``'s lock while the block trains into the folder; :class:`SSGANError` if
    another process holds it (a second ``--resume`` of a run still training would rewrite its
    metrics and checkpoint under it). The lock is the kernel's (``flock``), released when the
    process ends, even by ``kill -9``, so a stopped run never leaves it taken; on a file system
    without locks the block runs unguarded."""
    if fcntl is None:
        yield
        return
    fd = os.open(Path(run_dir) / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another process"
            raise SSGANError(f"{run_dir} is being trained now, by {holder}: a run folder is trained by one process at "
                             "a time; wait for that run, or stop it (Ctrl-C writes a checkpoint) and resume then") from None
        except OSError:  # the file system has no locks
            pass
        else:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"process {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # (releases the lock)


class WriteFailed(SSGANError):
    """A file could not be written (a full disk, a folder made read-only): the message says
    which, why, the space left there, and how to go on."""


@contextmanager
def writing(path: str | os.PathLike, then: str, errors: tuple[type[BaseException], ...] = (OSError,)) -> Iterator[None]:
    """Turn an error of ``errors`` in the block, which writes ``path``, into a one-line
    :class:`WriteFailed` that ends with ``then`` (what to do once there is room)."""
    try:
        yield
    except errors as e:
        path = Path(path)
        reason = e.strerror if isinstance(e, OSError) and e.strerror else f"{type(e).__name__}: {first_line(str(e))}"
        if not (isinstance(e, OSError) and e.errno == errno.ENOSPC):
            try:  # (the failed file may still be open here, its space not yet given back)
                free = shutil.disk_usage(path.parent).free
                reason += "; the disk is full" if free < 2**20 else f"; {free / 1e6:.0f} MB free there"
            except OSError:
                pass
        raise WriteFailed(f"cannot write {path} ({reason}): make room there or make it writable, {then}") from None


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success.

    The temporary file lives in the same directory so that ``os.replace`` is atomic.
    On any exception the temporary file is removed and ``path`` is left untouched.
    """
    path = Path(path)
    tmp = _new_file_beside(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def whole_or_none(folder: str | os.PathLike, then: str) -> Iterator[Path]:
    """Yield a new hidden folder to write a set of files into, as they will lie in ``folder``;
    when the block ends, move them into ``folder``, over files of the same names, leaving its
    other files be; where ``folder`` is new, the hidden folder is renamed to it, so that it
    appears whole at once. On any error the files are removed and ``folder`` is as it was: a
    report cut short by a full disk would leave figures that read as a new report beside an old
    report.md. An error of the file system becomes a one-line :class:`WriteFailed` that ends
    with ``then``.

    The staging folder lies in ``folder`` where it exists (which may be a link to another disk),
    else in the nearest folder above it that exists: on the file system that ``folder`` is or
    will be on, so that each move is a rename, which needs no room."""
    folder = Path(folder)
    home = folder if folder.is_dir() else next(p for p in folder.parents if p.exists())  # ("." or "/" at the latest)
    with writing(folder, then):
        stage = _new_folder_in(home)
        try:
            yield stage
            if not folder.exists():  # a new folder: the staging folder becomes it, in one rename
                folder.parent.mkdir(parents=True, exist_ok=True)
                os.rename(stage, folder)
                return
            for path in sorted(stage.rglob("*")):  # (a folder before its files)
                target = folder / path.relative_to(stage)
                if path.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                else:
                    os.replace(path, target)
        finally:
            shutil.rmtree(stage, ignore_errors=True)


def _new_folder_in(folder: Path) -> Path:
    for _ in range(100):
        stage = folder / f".ssgan-{secrets.token_hex(6)}.tmp"
        try:
            stage.mkdir()
            return stage
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name in {folder}")


def _new_file_beside(path: Path) -> Path:
    """A new empty file in ``path``'s folder with the usual permissions: the kernel applies the
    umask to mode 0666 as it creates it. (``tempfile.mkstemp`` makes 0600, and reading the
    umask to widen that means setting it for a moment, for the whole process: a run writing
    its folder in another thread, ``--parallel-mode threads``, could create files meanwhile.)"""
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
        try:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name beside {path}")


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2) + "\n")


def check_folder_can_be(folder: str | os.PathLike, flag: str) -> None:
    """A one-line error, before any work, where a folder cannot be made at ``folder`` because it
    or a folder above it is a file (``flag``: the option that named it, as the line shows it)."""
    folder = Path(folder)
    above = next(p for p in (folder, *folder.parents) if p.exists())  # ("." or "/" at the latest)
    if not above.is_dir():
        raise SSGANError(f"{flag}: {above} is a file, not a folder")
