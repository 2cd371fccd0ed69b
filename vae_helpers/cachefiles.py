"""Cache files that never lie: written atomically, checked when read, named in every error.

Every file goes to a temporary file in the same folder and is moved into place with `os.replace`, so a reader sees
the old file or the new one, never half of one. A cache entry is a weights file named after its SHA-256
(`<stem>-<first 16 hex digits>.pt`, never rewritten with other bytes) and, written last, a JSON file `<stem>.json`
that names the weights file and its full SHA-256. `read_entry` checks both and raises `BrokenEntry`, naming the
file and what is wrong, when anything is missing, truncated or mismatched.
"""
import contextlib
import hashlib
import io
import json
import os
import tempfile
from pathlib import Path

import torch

from .utils import shown

try:                      # POSIX: writers of one entry take turns; elsewhere they only skip the clean-up
    import fcntl
except ImportError:       # pragma: no cover (Windows)
    fcntl = None


class BrokenEntry(ValueError):
    """A cache file that is missing, truncated, not JSON, or does not match what its metadata says."""

    def __init__(self, path, reason: str):
        self.path, self.reason = Path(path), reason
        super().__init__(f"{shown(path)}: {reason}")


class NotWritable(PermissionError):
    """A cache folder that needs writing but cannot be written; the message names it and the variable to set."""


def writable(folder) -> bool:
    """Whether `folder` (or, when it does not exist yet, its nearest existing parent) can be written."""
    folder = Path(folder)
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder.is_dir() and os.access(folder, os.W_OK | os.X_OK)


def require_writable(folder, env_var: str, what: str) -> None:
    """Raise NotWritable, before any training, when `folder` cannot take new files."""
    if not writable(folder):
        raise NotWritable(f"The cache folder {shown(folder)} is not writable, so {what} cannot be stored there. Point "
                          f"{env_var} at a writable folder (e.g. `export {env_var}=~/my-cache`) and run again; "
                          "a complete read-only cache is used as it is.")


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _atomic(path, write) -> Path:
    """Call write(binary file) on a temporary file beside `path`, then move it into place in one step."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise IsADirectoryError(f"Cannot write {path}: it is a folder. Give a file name, e.g. {path / 'model.pt'}.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise type(err)(f"Cannot write {path}: {err.strerror or err} (is {path.parent} a writable folder?)") from err
    try:
        os.chmod(tmp, 0o666 & ~_umask())       # mkstemp makes 0600; a shared cache must stay readable
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:                      # Ctrl-C or a full disk: leave no temporary file behind
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def write_bytes(path, data: bytes) -> Path:
    return _atomic(path, lambda f: f.write(data))


def write_json(path, obj) -> Path:
    return write_bytes(path, json.dumps(obj, indent=1).encode())


def save_torch(obj, path) -> Path:
    return _atomic(path, lambda f: torch.save(obj, f))


def sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_json(path) -> dict:
    """The JSON object in `path`, or BrokenEntry naming the file (missing, truncated, not an object)."""
    path = Path(path)
    try:
        obj = json.loads(path.read_text())
    except FileNotFoundError:
        raise BrokenEntry(path, "the file is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BrokenEntry(path, f"the file is truncated or is not JSON ({err})") from None
    if not isinstance(obj, dict):
        raise BrokenEntry(path, "the file holds JSON but not an object")
    return obj


@contextlib.contextmanager
def writer_lock(folder: Path, stem: str):
    """Hold an exclusive lock on `folder/.<stem>.lock` (POSIX), so that two writers of one entry take turns."""
    if fcntl is None:
        yield False
        return
    with open(folder / f".{stem}.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def write_entry(folder, stem: str, weights_obj, meta: dict) -> dict:
    """Store `weights_obj` (torch.save-able) then `meta` + {"weights": {"file", "sha256", "format"}} as
    `<stem>.json`; "format" is weights_obj's own "format" tag when it has one (checkpoints.contents does)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with writer_lock(folder, stem) as locked:
        buffer = io.BytesIO()
        torch.save(weights_obj, buffer)
        digest = hashlib.sha256(buffer.getvalue()).hexdigest()
        weights = write_bytes(folder / f"{stem}-{digest[:16]}.pt", buffer.getvalue())   # named after its bytes
        meta = {**meta, "weights": {"file": weights.name, "sha256": digest,
                                 "format": weights_obj.get("format") if isinstance(weights_obj, dict) else None}}
        write_json(folder / f"{stem}.json", meta)                          # last: the entry now exists
        if locked:                                                         # older weights of this entry
            for old in folder.glob(f"{stem}-*.pt"):
                if old.name != weights.name and len(old.stem) == len(stem) + 17:
                    with contextlib.suppress(OSError):
                        old.unlink()
    return meta


def read_entry(folder, stem: str):
    """(meta, weights path, weights bytes) of a complete entry, the bytes checked against their SHA-256.

    The bytes are read once and checked, so nothing can change between the check and their use; else BrokenEntry.
    """
    folder = Path(folder)
    for attempt in range(3):                   # a writer may replace the entry between our two reads
        meta = read_json(folder / f"{stem}.json")
        weights = meta.get("weights")
        if not isinstance(weights, dict) or not {"file", "sha256"} <= set(weights):
            raise BrokenEntry(folder / f"{stem}.json", "it does not name its weights file and SHA-256 "
                              "(written by an older vae_helpers, or cut short)")
        path = folder / Path(weights["file"]).name
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            if attempt < 2:
                continue
            raise BrokenEntry(path, f"the weights file named by {stem}.json is missing") from None
        except OSError as err:
            raise BrokenEntry(path, f"the weights file cannot be read ({err})") from None
        if hashlib.sha256(data).hexdigest() != weights["sha256"]:
            if attempt < 2 and read_json(folder / f"{stem}.json").get("weights") != weights:
                continue
            raise BrokenEntry(path, f"the file is truncated or changed: its SHA-256 does not match the one in "
                              f"{stem}.json")
        return meta, path, data
    raise BrokenEntry(folder / f"{stem}.json", "the entry kept changing while it was read")  # pragma: no cover
