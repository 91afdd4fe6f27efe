"""The file back end: render a session's DAC frames to WAV or FLAC.

Rendering streams in blocks through the compiled engine, so memory stays
constant whatever the duration and the number of steps, and writes to a temporary file beside the
target that replaces it only when complete: an interrupted render never
leaves a file that looks finished.  A file ends as a stream does: a
``seconds`` shorter than the session fades to silence at that sample, and
through an AC-coupled stage the file goes on, silent, while the drive bleeds
the coupling's stored charge, so that whatever plays it stops with nothing
stored.  WAV is written as 32-bit float (bit for
bit what goes to the DAC); FLAC as 24-bit integer (lossless for a 24-bit DAC).
"""
from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from .. import _checks
from .._extras import require
from ..sessions import Session
from ..stage import Stage, _given
from .array import _most_frames, _to_silence

__all__ = ["render_to_file", "write_current", "BLOCK_FRAMES", "SUBTYPES"]

BLOCK_FRAMES = 65536
SUBTYPES = {".wav": "FLOAT", ".flac": "PCM_24"}
#: The most sample data a RIFF WAV file's 32-bit sizes can tell (less room
#: for its header): a .wav with more is written as RF64 (EBU Tech 3306, the
#: 64-bit WAV, which libsndfile, sox and ffmpeg read); as WAV its sizes would
#: wrap, and a reader would stop early, mid-session, at full level.
_WAV_MAX_DATA_BYTES = (1 << 32) - 1 - 4096


def _format(path: Path, data_bytes: int) -> str:
    """The libsndfile format to write ``path`` in, for ``data_bytes`` of samples."""
    fmt = path.suffix[1:].upper()
    return "RF64" if fmt == "WAV" and data_bytes > _WAV_MAX_DATA_BYTES else fmt


def publish(tmp, path) -> None:
    """Give a finished temporary file the usual permissions (mkstemp makes it
    private) and move it into place in one step."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    os.replace(tmp, path)


def writable(path: Path) -> Path:
    """The file a write to ``path`` replaces, checked before anything is
    made or played: a symlink's target (the link stays a link, as a
    shell's ``>`` keeps it; a loop of links, or a link into a missing
    folder, is refused), not a folder, not a read-only file (its mode
    has no write bit: replacing it would go around the protection), in a
    folder that is one, or can be made."""
    real = path
    if path.is_symlink():
        try:
            real = Path(os.path.realpath(path, strict=True))
        except FileNotFoundError:       # a link to a file not there yet: its folder must be
            real = Path(os.path.realpath(path))
            if not real.parent.is_dir():
                raise FileNotFoundError(errno.ENOENT, f"{path} links to {real}, in a folder that does not "
                                                      f"exist") from None
        except OSError as e:            # a loop of links (a shell's > fails so too)
            raise OSError(e.errno, f"{path} is a symlink that cannot be followed ({e.strerror})") from None
    if real.is_dir():
        raise IsADirectoryError(errno.EISDIR, f"{path} is a folder: give a file name")
    if real.exists() and (not real.stat().st_mode & 0o222 or not os.access(real, os.W_OK)):
        raise PermissionError(errno.EACCES, f"{path} is read-only: make it writable, or give another name")
    folder = real.parent
    while not folder.exists() and not folder.is_symlink():
        folder = folder.parent
    if not folder.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, f"{folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(errno.EACCES, f"{folder} cannot be written to: give a file in another folder")
    return real


@contextlib.contextmanager
def staged(path: Path, suffix: str):
    """A temporary file beside ``path`` to write (beside a symlink's target:
    :func:`writable`): when the block ends without an exception it is
    published in its place (:func:`publish`), and in every case nothing
    else is left behind -- never a file that looks finished and is not,
    nor the folders made for it."""
    path = writable(path)
    made = _folders_for(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
        os.close(fd)
        try:
            yield Path(tmp)
            publish(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
    except BaseException:
        for folder in reversed(made):       # the deepest first; one that is no longer empty stays
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def _folders_for(path: Path) -> list[Path]:
    """Make the folders ``path`` needs (:func:`writable` checked that they
    can be); the ones made, the outermost first."""
    missing, folder = [], path.parent
    while not folder.exists() and not folder.is_symlink():
        missing.append(folder)
        folder = folder.parent
    made = []
    for m in reversed(missing):
        m.mkdir()
        made.append(m)
    return made


def write_current(path, current_ua, rate: int = _checks.DEFAULT_RATE, full_scale_ua: float | None = None) -> Path:
    """Write an array of current to a WAV or FLAC file for listening or
    inspection.  Not DAC samples: for those, render a session through a
    stage with :func:`render_to_file`.

    Parameters
    ----------
    path : str or os.PathLike
        The file: ``.wav`` (32-bit float) or ``.flac`` (24-bit).
    current_ua : array_like
        Current, uA: 1-D, or frames x channels; finite.
    rate : int
        Samples per second, Hz (1000 to 768000; default 48000).
    full_scale_ua : float or None
        The current written as full scale, uA (> 0; default None: the array's
        peak; never below it).

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    ValueError, TypeError
        A parameter out of range or of the wrong type, a suffix other than
        .wav or .flac, or ``full_scale_ua`` below the array's peak.
    OSError
        The file cannot be written, naming it and the cause; nothing is left behind.
    """
    path, subtype = _target("path", path)
    x = _current("current_ua", current_ua)
    rate = _checks.rate(rate)
    sf = require("soundfile", "files", "writing WAV or FLAC", "libsndfile1")
    peak = float(np.max(np.abs(x), initial=0.0))
    full = peak if full_scale_ua is None else _checks.number("full_scale_ua", full_scale_ua, 0, lo_open=True, unit="uA")
    if peak > full * (1 + 1e-6):   # float32 renders may sit a rounding above a spec's peak_ua
        raise ValueError(f"full_scale_ua={full_scale_ua!r} is below the array's peak of {peak:g} uA: the file would "
                         f"clip; give at least the peak (or None for the peak)")
    y = (x / full if full > 0 else x).astype(np.float32)
    n = 1 if y.ndim == 1 else y.shape[1]
    _fits(path, rate, n, f"current_ua has {n} channels")
    try:
        with staged(path, ".part" + path.suffix) as tmp:
            sf.write(_native(tmp), y, rate, subtype=subtype, format=_format(path, y.nbytes))
    except (OSError, RuntimeError) as e:   # libsndfile says "System error." for a full disk
        raise OSError(f"cannot write {path}: {_cause(e, path, y.nbytes)}") from None
    return path


def render_to_file(session: Session, path, rate: int = _checks.DEFAULT_RATE, stage: Stage | None = None,
                   seconds: float | None = None, progress=None, block_frames: int = BLOCK_FRAMES) -> Path:
    """Write ``session`` as DAC frames to ``path`` (.wav or .flac).

    Parameters
    ----------
    session : Session
        What to render (checked against ``stage`` first).
    path : str or Path
        The file: ``.wav`` (32-bit float; RF64, the 64-bit WAV, where the
        samples may pass 4 GiB) or ``.flac`` (24-bit).
    rate : int
        Sample rate, Hz (default 48000).
    stage : Stage, optional
        The output stage (default ``Stage()``).
    seconds : float, optional
        End early, with a fade to silence at this time, s (at most the session).
    progress : callable, optional
        ``progress(done_frames, total_frames)``, called after each block.
    block_frames : int
        Frames rendered and written at a time (default 65536).

    Returns
    -------
    Path
        ``path``, written whole (a temporary file beside it is moved in only when complete).

    Raises
    ------
    ValueError, TypeError
        A bad parameter, or a session the stage cannot play (named in the message).
    OSError
        The file cannot be written, naming it and the cause; nothing is left behind.
    """
    _checks.instance("session", session, Session, "a microwave.sessions.Session")
    path, subtype = _target("path", path)
    sf = require("soundfile", "files", "writing WAV or FLAC", "libsndfile1")
    rate = _checks.rate(rate)
    if progress is not None and not callable(progress):
        raise TypeError(f"progress={progress!r} must be a function progress(done_frames, total_frames) or None")
    block_frames = _checks.integer("block_frames", block_frames, 1, 1 << 24)
    if seconds is not None:
        seconds = _checks.span("seconds", seconds, session.seconds, lo_open=True)
    stage = _given(stage)
    engine = session.engine(rate, stage, duration_s=seconds)
    total = engine.state["total"]
    last = _most_frames(engine, stage, rate)
    channels = engine.render(0).shape[1]
    _fits(path, rate, channels, f"stage.out_channels={channels}")
    try:
        with staged(path, ".part" + path.suffix) as tmp, \
                sf.SoundFile(_native(tmp), "w", samplerate=rate, channels=channels, subtype=subtype,
                             format=_format(path, last * channels * 4)) as f:
            done = 0
            for block in _to_silence(engine, stage, rate, block_frames):
                f.write(block)
                done += len(block)
                if progress is not None:
                    progress(min(done, total), total)
    except (OSError, RuntimeError) as e:   # libsndfile says "System error." for a full disk
        raise OSError(f"cannot write {path}: {_cause(e, path, block_frames * channels * 4)}") from None
    return path


#: what FLAC holds (its format's limits, which libsndfile enforces)
FLAC_MAX_RATE = 655_350
FLAC_MAX_CHANNELS = 8


def _fits(path: Path, rate: int, channels: int, what: str) -> None:
    """Refuse, before anything is written, a FLAC file its format cannot hold."""
    if path.suffix.lower() != ".flac":
        return
    if rate > FLAC_MAX_RATE:
        raise ValueError(f"rate={rate} is more than FLAC holds (at most {FLAC_MAX_RATE} Hz): "
                         f"write {path.with_suffix('.wav').name} (WAV holds any rate) or lower the rate")
    if channels > FLAC_MAX_CHANNELS:
        raise ValueError(f"{what}: more than FLAC holds (at most {FLAC_MAX_CHANNELS} channels): "
                         f"write {path.with_suffix('.wav').name} (WAV holds up to 1024)")


def _target(name: str, value) -> tuple[Path, str]:
    """A file path to write, and the libsndfile subtype its extension asks for."""
    path = _checks.path(name, value)
    subtype = SUBTYPES.get(path.suffix.lower())
    if subtype is None:
        raise ValueError(f"{name}={str(path)!r} has an unknown extension: use {' or '.join(SUBTYPES)}")
    return path, subtype


def _current(name: str, value) -> np.ndarray:
    """An array of current (uA): real numbers, 1-D or frames x channels
    (1 to 32 channels), all finite, as float64."""
    try:
        x = np.asarray(value)
    except (TypeError, ValueError, OverflowError):    # ragged lists, objects numpy cannot hold
        x = None
    if x is None or x.dtype.kind not in "iuf":
        raise TypeError(f"{name}={value!r} must be an array of real numbers (uA), 1-D or frames x channels")
    if x.ndim not in (1, 2) or (x.ndim == 2 and not 1 <= x.shape[1] <= 32):
        raise ValueError(f"{name} has shape {x.shape}: it must be 1-D, or frames x channels with 1 to 32 channels")
    if x.shape[0] == 0:    # (libsndfile writes a FLAC of no frames as an empty, unreadable file)
        raise ValueError(f"{name} has shape {x.shape}: no frames to write; give at least one")
    x = x.astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name} holds NaN or infinite values: every sample must be a finite current in uA")
    return x


def _native(path: Path):
    """``path`` as the sound file library should open it: on POSIX the
    system's bytes (a name that is not UTF-8 comes from Python as
    surrogates, which soundfile's own encoding refuses); on Windows the str
    (soundfile opens it as wide characters)."""
    return str(path) if os.name == "nt" else os.fsencode(path)


def _most_file_bytes() -> int | None:
    """The largest file this process may write (``ulimit -f``), bytes; None
    when unlimited (or where the system has no such limit)."""
    try:
        import resource
    except ImportError:     # (Windows)
        return None
    most = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    return None if most == resource.RLIM_INFINITY else most


def _cause(e: BaseException, path: Path, need: int) -> str:
    """What went wrong, in words: a full disk is told as one.  An error
    that carries its own cause (an errno other than a full disk's) says
    that cause, whatever space the filesystem reports: /proc, or a
    read-only image, reports none."""
    own = getattr(e, "errno", None)
    most = _most_file_bytes()
    if own == errno.EFBIG:
        return ("the file would be larger than its filesystem holds (FAT32: 4 GiB less a byte)" if most is None else
                f"the file would be larger than this process may write (ulimit -f: {most} bytes)") + \
            " (nothing was written)"
    if isinstance(e, OSError) and own is not None and own not in (errno.ENOSPC, errno.EDQUOT):
        return f"{e.strerror or e} (nothing was written)"
    try:
        if shutil.disk_usage(path.parent).free < need:
            return "no space left on device (nothing was written)"
    except OSError:
        pass
    if own is None and most is not None and most < need:    # (libsndfile says only "System error.")
        return (f"the file may be larger than this process may write (ulimit -f: {most} bytes; up to {need} "
                f"bytes of samples) (nothing was written)")
    return f"{getattr(e, 'strerror', None) or e} (nothing was written)"


def png_target(name: str, value) -> Path:
    """A path to write a PNG plot to: its extension must say so (a plot is
    never written as PNG bytes under another format's name)."""
    path = _checks.path(name, value)
    if path.suffix.lower() != ".png":
        raise ValueError(f"{name}={str(path)!r} has an unknown extension: use .png (plots are written as PNG)")
    return path


def save_png(fig, path: Path, dpi: int) -> Path:
    """Write the matplotlib figure ``fig`` to the PNG ``path``, whole or not
    at all; a failure is an OSError naming ``path`` and the cause."""
    try:
        with staged(path, ".png") as tmp:
            fig.savefig(tmp, dpi=dpi, format="png")
    except OSError as e:
        raise OSError(f"cannot write {path}: {_cause(e, path, 1 << 20)}") from None
    return path
