"""Gold sets: jsonl rows read through the suite's field mapping, with errors that name the fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from assistant.errors import BadInputError
from assistant.evaluate.suite import Suite


def read_jsonl(path: Path) -> list[dict]:
    """Every row of a jsonl file (blank lines skipped), as the dev scripts read their gold sets."""
    return [
        json.loads(line)
        for line in Path(path).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


def _get(row: dict, dotted: str) -> Any:
    value: Any = row
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(dotted)
        value = value[part]
    return value


def load_dataset(
    suite: Suite, name: str, needed: tuple[str, ...], optional: tuple[str, ...] = ()
) -> list[dict]:
    """Rows of dataset ``name`` with the task's field names (``id`` defaults to ``<name>-<line>``)."""
    spec = suite.datasets[name]
    path = suite.resolve(spec.path)
    if not path.is_file():
        raise BadInputError(
            f"dataset {name!r}: no file {path}",
            f"Fix `datasets.{name}.path` in {suite.source} (relative paths start at {suite.base}).",
        )
    rows: list[dict] = []
    kept = 0
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as exc:
                raise BadInputError(
                    f"dataset {name!r}: {path} line {line_no} is not JSON ({exc.msg})"
                ) from None
            if any(str(raw.get(k)) != v for k, v in spec.where.items()):
                continue
            kept += 1
            if kept <= spec.start or (kept - 1 - spec.start) % spec.every:
                continue
            row: dict[str, Any] = {"_line": line_no}
            for key in ("id", *needed, *optional):
                source = spec.fields.get(key, key)
                try:
                    row[key] = _get(raw, source)
                except KeyError:
                    if key in needed:
                        raise BadInputError(
                            f"dataset {name!r}: {path} line {line_no} has no field {source!r} (for {key!r})",
                            f"Map it under `datasets.{name}.fields` in the suite, e.g. `{key}: my_field`.",
                        ) from None
                    row[key] = None
            row["id"] = str(row["id"]) if row["id"] is not None else f"{name}-{line_no}"
            rows.append(row)
            if spec.limit and len(rows) >= spec.limit:
                break
    if not rows:
        raise BadInputError(
            f"dataset {name!r}: {path} has no rows", f"Check `datasets.{name}` in {suite.source}."
        )
    return rows


def count_rows(suite: Suite, name: str) -> int:
    """Rows the task will read from dataset ``name`` (0 when the file is missing: the task reports it)."""
    spec = suite.datasets[name]
    path = suite.resolve(spec.path)
    if not path.is_file():
        return 0  # reported properly when the task loads it
    if spec.where or spec.start:
        try:
            return len(load_dataset(suite, name, ()))
        except BadInputError:
            return 0
    with path.open(encoding="utf-8") as fh:
        n = -(-sum(1 for line in fh if line.strip()) // spec.every)
    return min(n, spec.limit) if spec.limit else n
