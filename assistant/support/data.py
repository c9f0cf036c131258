"""Labelled (source, statement) pairs for fitting and measuring the support scorer."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from assistant.errors import BadInputError
from assistant.verify import normalise_text


@dataclass(frozen=True)
class LabelledPair:
    """A statement about a source with a human label (1 = consistent with the source)."""

    id: str
    source: str
    text: str
    label: int
    domain: str
    split: str

    @property
    def group(self) -> str:
        """Pairs about the same source share a group (cross-validation keeps a group together)."""
        return hashlib.sha256(self.source.encode("utf-8")).hexdigest()[:12]


def load_pairs(path: Path, split: str | None = None, limit: int | None = None) -> list[LabelledPair]:
    """SummEdits-style (domain, split) or FRANK-style (dataset) rows as LabelledPairs."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(
            f"dataset {path} not found",
            "The dev sets live in the eval data folder: ASSISTANT_EVAL_DATA_DIR, by default "
            "../shared/eval-data beside the repository (see its README).",
        )
    pairs = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            pair = pair_from_row(json.loads(line), default_domain=path.stem)
        except (KeyError, ValueError, TypeError) as exc:
            raise BadInputError(f"{path}:{n}: not a labelled pair ({exc})") from exc
        if split is None or pair.split == split:
            pairs.append(pair)
    return pairs[:limit] if limit else pairs


def pair_from_row(row: dict, default_domain: str = "") -> LabelledPair:
    """A labelled row (``article``, ``summary``, ``label``; optional ``domain``/``dataset``, ``split``)."""
    return LabelledPair(
        id=str(row["id"]),
        # FRANK's model summaries are lower-cased and tokenised ("has n't"): undo that so the
        # model reads them as text; sources are normalised the same way for symmetry.
        source=normalise_text(str(row["article"])),
        text=normalise_text(str(row["summary"])),
        label=int(row["label"]),
        domain=str(row.get("domain") or row.get("dataset") or default_domain),
        split=str(row.get("split") or "dev"),
    )


def by_source(pairs: Iterable[LabelledPair]) -> list[LabelledPair]:
    """Pairs ordered so that those about one source are adjacent (its KV state is reused)."""
    order: dict[str, int] = {}
    for p in pairs:
        order.setdefault(p.group, len(order))
    return sorted(pairs, key=lambda p: order[p.group])

