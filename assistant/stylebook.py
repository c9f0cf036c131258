"""The editors' style book: preferred spellings with their variants, and accepted names."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from assistant.errors import BadInputError
from assistant.files import replace_text

_EXAMPLE = "preferred: {Zelenskyy: [Zelensky, Zelenskiy]}\nallow: [Witkoff]"


def _fold(word: str) -> str:
    # Curly and straight apostrophes are the same spelling to an editor.
    return word.replace("\u2019", "'").casefold()


class StyleBook:
    """Preferred spellings (``preferred``: name -> variants) and accepted names (``allow``)."""

    def __init__(
        self, preferred: dict[str, list[str]] | None = None, allow: list[str] | None = None
    ) -> None:
        self.preferred: dict[str, list[str]] = {}
        self.allow: list[str] = []
        for name, variants in (preferred or {}).items():
            self.add_preferred(name, variants)
        for name in allow or []:
            self.add_allowed(name)

    @classmethod
    def load(cls, path: Path) -> StyleBook:
        """Read a style book; a missing file is an empty book, a malformed one a BadInputError."""
        path = Path(path)
        if not path.exists():
            return cls()
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as exc:
            raise BadInputError(f"style book {path} is not UTF-8 text: {exc}", _help()) from exc
        except yaml.YAMLError as exc:
            where = ""
            mark = getattr(exc, "problem_mark", None)
            if mark is not None:
                where = f" at line {mark.line + 1}, column {mark.column + 1}"
            problem = getattr(exc, "problem", None) or str(exc)
            raise BadInputError(
                f"style book {path} is not valid YAML{where}: {problem}", _help()
            ) from exc
        return cls._from_data(data, path)

    @classmethod
    def _from_data(cls, data: object, path: Path) -> StyleBook:
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise BadInputError(
                f"style book {path} must be a mapping with 'preferred' and/or 'allow', "
                f"not a {type(data).__name__}",
                _help(),
            )
        unknown = sorted(str(k) for k in data if k not in ("preferred", "allow"))
        if unknown:
            raise BadInputError(
                f"style book {path} has unknown key(s) {', '.join(unknown)}; "
                "only 'preferred' and 'allow' are read",
                _help(),
            )
        preferred = data.get("preferred") or {}
        if not isinstance(preferred, dict):
            raise BadInputError(
                f"style book {path}: 'preferred' must map a name to a list of variants", _help()
            )
        clean: dict[str, list[str]] = {}
        for name, variants in preferred.items():
            if isinstance(variants, str):
                variants = [variants]
            if variants is None:
                variants = []
            if (
                not _is_name(name)
                or not isinstance(variants, list)
                or not all(_is_name(v) for v in variants)
            ):
                raise BadInputError(
                    f"style book {path}: preferred entry {name!r} must be a name with a list "
                    f"of variant spellings, got {variants!r}",
                    _help(),
                )
            clean[name.strip()] = [v.strip() for v in variants]
        allow = data.get("allow") or []
        if isinstance(allow, str):
            allow = [allow]
        if not isinstance(allow, list) or not all(_is_name(a) for a in allow):
            raise BadInputError(f"style book {path}: 'allow' must be a list of names", _help())
        return cls(clean, [a.strip() for a in allow])

    def to_data(self) -> dict:
        """The book as plain YAML-able data."""
        return {
            "preferred": {name: list(vs) for name, vs in sorted(self.preferred.items())},
            "allow": sorted(self.allow, key=_fold),
        }

    def save(self, path: Path) -> None:
        """Write the book atomically (temporary file, then rename over the old one)."""
        replace_text(Path(path), yaml.safe_dump(self.to_data(), allow_unicode=True, sort_keys=False), durable=True)

    def add_allowed(self, name: str) -> None:
        """Accept a spelling so it is never flagged again (it stops being anyone's variant)."""
        name = _check_name(name)
        for preferred, variants in self.preferred.items():
            self.preferred[preferred] = [v for v in variants if _fold(v) != _fold(name)]
        if not any(_fold(a) == _fold(name) for a in self.allow):
            self.allow.append(name)

    def add_preferred(self, name: str, variants: list[str]) -> None:
        """Record ``name`` as the house spelling and ``variants`` as spellings to correct."""
        name = _check_name(name)
        key = _fold(name)
        new = [v for v in (_check_name(v) for v in variants) if _fold(v) != key]
        folded = {_fold(v) for v in new}
        carried: list[str] = []
        for other in list(self.preferred):
            if _fold(other) == key:
                carried += self.preferred.pop(other)
            elif _fold(other) in folded:
                # A former house spelling demoted to a variant keeps its own variants with it.
                carried += self.preferred.pop(other)
        # The newest decision wins: these spellings are no longer accepted or someone else's.
        for other, vs in self.preferred.items():
            self.preferred[other] = [v for v in vs if _fold(v) not in folded | {key}]
        self.allow = [a for a in self.allow if _fold(a) not in folded | {_fold(c) for c in carried}]
        merged: list[str] = []
        for v in carried + new:
            if _fold(v) != key and all(_fold(v) != _fold(m) for m in merged):
                merged.append(v)
        self.preferred[name] = merged

    def remove(self, name: str) -> list[str]:
        """Undo an entry: ``name`` stops being accepted, a house spelling (its variants go with it)
        or a variant. Returns what was removed, in words; empty when the book does not hold it."""
        key = _fold(_check_name(name))
        removed = [f"accepted name {a!r}" for a in self.allow if _fold(a) == key]
        self.allow = [a for a in self.allow if _fold(a) != key]
        for preferred in list(self.preferred):
            if _fold(preferred) == key:
                variants = self.preferred.pop(preferred)
                removed.append(f"house spelling {preferred!r}" + (f" with its variants {', '.join(variants)}" if variants else ""))
                continue
            kept = [v for v in self.preferred[preferred] if _fold(v) != key]
            removed += [f"variant {v!r} of {preferred!r}" for v in self.preferred[preferred] if _fold(v) == key]
            self.preferred[preferred] = kept
        return removed

    def variant_of(self, word: str) -> str | None:
        """The preferred spelling if ``word`` is a known variant, else None."""
        key = _fold(word)
        for name, variants in self.preferred.items():
            if any(_fold(v) == key for v in variants):
                return name
        return None

    def is_allowed(self, word: str) -> bool:
        """True if the editors accepted this spelling (allowlisted or a preferred name)."""
        key = _fold(word)
        return any(_fold(a) == key for a in self.allow) or any(
            _fold(p) == key for p in self.preferred
        )

    def variants(self) -> dict[str, str]:
        """Every variant spelling mapped to its preferred name."""
        return {v: name for name, vs in self.preferred.items() for v in vs}

    def accepted(self) -> set[str]:
        """Every spelling the editors accept: allowlisted and preferred names."""
        return set(self.allow) | set(self.preferred)

    def __len__(self) -> int:
        return len(self.allow) + len(self.preferred)

    def __repr__(self) -> str:
        return f"StyleBook(preferred={self.preferred!r}, allow={self.allow!r})"


def _is_name(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _check_name(name: str) -> str:
    if not _is_name(name):
        raise BadInputError(f"a style-book name must be non-empty text, got {name!r}")
    return name.strip()


def _help() -> str:
    return f"Fix the file (nothing was changed); the expected shape is:\n{_EXAMPLE}"


@contextmanager
def editing(path: Path) -> Iterator[StyleBook]:
    """Load, let the caller change, and save the book under an exclusive lock.

    Two editors accepting names at the same moment would otherwise each save their own copy
    and one name would be lost.
    """
    import fcntl  # lazy: POSIX only; the rest of the style book works without it

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        book = StyleBook.load(path)
        yield book
        book.save(path)
