"""Install the offline model files: tiktoken's BPE files, MiniLM's dynamic-int8 graph and the chat GGUF(s).

Run as ``python -m assistant.setup_models [--preset 1.5b|0.5b|all] [--model-dir DIR] [--verify]``.
Idempotent: a second run finds the files in place and returns in well under a second.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from assistant import embed, models, tokens
from assistant.errors import AssistantError
from assistant.settings import Settings


def setup(presets: list[str], model_dir: Path, recheck: bool = False) -> list[str]:
    """Install BPE files and assemble each preset's GGUF; return one line per action."""
    lines: list[str] = []
    cache = tokens.install_bpe_files()
    lines.append(f"tiktoken BPE files: {cache}")
    graph = embed.dynamic_int8_path(model_dir)
    before = graph.stat().st_mtime_ns if graph.is_file() else None
    start = time.perf_counter()
    embed.build_dynamic_int8(model_dir)
    took = time.perf_counter() - start
    rebuilt = before is None or graph.stat().st_mtime_ns != before
    lines.append(f"MiniLM dynamic-int8 graph: {graph} " + (f"built and verified in {took:.1f}s" if rebuilt else "verified"))
    for preset in presets:
        path = models.gguf_path(preset, model_dir)
        present = models.is_assembled(preset, model_dir)
        start = time.perf_counter()
        models.assemble_gguf(preset, model_dir, force_verify=recheck)
        took = time.perf_counter() - start
        if present and not recheck:
            action = "already present (size matches; pass --verify to re-hash)"
        elif present:
            action = f"verified sha256 in {took:.1f}s"
        else:
            action = f"assembled and verified in {took:.1f}s"
        lines.append(f"model {preset}: {path} {action}")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m assistant.setup_models", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--preset",
        choices=[*models.PRESETS, "all"],
        default=None,
        help="model to assemble (default: the configured preset)",
    )
    parser.add_argument("--model-dir", type=Path, default=None, help="where to put the GGUF files")
    parser.add_argument(
        "--verify", action="store_true", help="re-hash GGUF files that are already present"
    )
    args = parser.parse_args(argv)
    settings = Settings()
    preset = args.preset or settings.llm.preset
    presets = list(models.PRESETS) if preset == "all" else [preset]
    try:
        for line in setup(presets, args.model_dir or settings.model_dir, recheck=args.verify):
            print(line)
    except AssistantError as exc:
        print(f"error: {exc.user_message()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
