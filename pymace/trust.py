"""The trust boundary (docs/security.md): a program cache holds native code, so the storage dir must be one that
only this user can write, and no model file may choose it.

- `storage_dir_problem(path)`: why a storage dir is not safe to load programs from (writable by group or others,
  owned by another user), or None.
- A model converted from a deployment YAML records the YAML's `storage_dir` with a tag: an HMAC of the path under
  this user's key (`<user config dir>/pymace/model-key`, 0600, made on first use). `trusted_storage_dir(metadata)`
  honours a recorded storage dir only when it lies inside the user's cache dir or its tag verifies, i.e. this
  user's own conversion recorded it; a downloaded model cannot point pymace at a folder holding a planted cache."""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from .safe_io import open_regular

KEY_BYTES = 32


def key_path() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir("pymace")) / "model-key"


def user_key(create: bool = False) -> bytes | None:
    """This user's key, or None when there is none (and `create` is false) or it is not private (another owner,
    readable or writable by group or others, the wrong size): a key others can read is no secret."""
    path = key_path()
    try:
        with open_regular(path, KEY_BYTES) as f:
            st = os.fstat(f.fileno())
            key = f.read(KEY_BYTES + 1)
    except FileNotFoundError:
        return _new_key(path) if create else None
    except OSError:
        return None
    if st.st_uid != os.getuid() or st.st_mode & 0o077 or len(key) != KEY_BYTES:
        return None
    return key


def _new_key(path: Path) -> bytes | None:
    key = secrets.token_bytes(KEY_BYTES)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except FileExistsError:  # another process made it first
        return user_key(create=False)
    except OSError:
        return None
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


def _tag(key: bytes, storage_dir: str) -> str:
    return hmac.new(key, b"pymace storage_dir\0" + os.fsencode(storage_dir), hashlib.sha256).hexdigest()


def storage_dir_tag(storage_dir: str) -> str | None:
    """The tag a conversion records beside `storage_dir` (None when no private key can be made)."""
    key = user_key(create=True)
    return _tag(key, storage_dir) if key else None


def inside(path: str | os.PathLike, root: str | os.PathLike) -> bool:
    real, base = os.path.realpath(path), os.path.realpath(root)
    return os.path.commonpath([real, base]) == base


def trusted_storage_dir(metadata: dict) -> str | None:
    """The model's recorded storage_dir when this user may trust it (see the module's docstring), else None."""
    import platformdirs

    recorded = metadata.get("storage_dir")
    if not isinstance(recorded, str) or not recorded:
        return None
    if inside(recorded, platformdirs.user_cache_dir("pymace")):
        return recorded
    tag, key = metadata.get("storage_dir_tag"), user_key()
    if isinstance(tag, str) and key is not None and hmac.compare_digest(tag, _tag(key, recorded)):
        return recorded
    return None


def storage_dir_problem(path: str | os.PathLike) -> str | None:
    """Why the storage dir at `path` is not safe to load compiled programs from, or None. A missing dir is fine
    (pymace makes it, as this user, without group/other write)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        return f"cannot check it ({e.strerror})"
    if not stat.S_ISDIR(st.st_mode):
        return "not a directory"
    if st.st_uid != os.getuid():
        return f"owned by uid {st.st_uid}, not by this user (uid {os.getuid()})"
    if st.st_mode & 0o022:
        who = "group and others" if st.st_mode & 0o022 == 0o022 else "others" if st.st_mode & 0o002 else "its group"
        return f"writable by {who} (mode {stat.S_IMODE(st.st_mode):o})"
    return None
