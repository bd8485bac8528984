"""Every environment variable pymace reads, parsed once."""
import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Config:
    storage_dir: str | None  # PYMACE_STORAGE_DIR: where caches live (default: the user cache dir)
    device: str  # PYMACE_DEVICE: default --device
    debug: bool  # PYMACE_DEBUG=1: keep tracebacks in the CLI


def load() -> Config:
    return Config(
        storage_dir=os.environ.get("PYMACE_STORAGE_DIR") or None,
        device=os.environ.get("PYMACE_DEVICE", "auto"),
        debug=os.environ.get("PYMACE_DEBUG", "") not in ("", "0"),
    )


CONFIG = load()


def default_storage_dir() -> str:
    """PYMACE_STORAGE_DIR (read now, so tests and tools may set it) or the user cache directory."""
    if os.environ.get("PYMACE_STORAGE_DIR"):
        return os.environ["PYMACE_STORAGE_DIR"]
    import platformdirs

    return platformdirs.user_cache_dir("pymace")
