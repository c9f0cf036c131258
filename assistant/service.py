"""The assistant as one object: settings plus lazily built embedder, store, retriever and chat model."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Callable, Iterable

from assistant.embed import Embedder, default_embedder
from assistant.errors import AssistantError, BadInputError
from assistant.ingest import FileResult, iter_files, read_file
from assistant.retrieve import Retriever
from assistant.settings import Settings
from assistant.store import Store, UpsertStatus


@dataclass
class IngestReport:
    """Outcome of one ingest batch, per file and per article."""

    files: list[FileResult] = field(default_factory=list)
    articles: dict[str, UpsertStatus] = field(default_factory=dict)
    passages_written: int = 0

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if f.error]

    def summary(self) -> str:
        counts = {s: sum(1 for v in self.articles.values() if v == s) for s in ("added", "replaced", "unchanged")}
        return (
            f"{len(self.files)} file(s): {counts['added']} article(s) added, {counts['replaced']} replaced, "
            f"{counts['unchanged']} unchanged, {self.passages_written} passage(s) written, {len(self.failed)} file(s) failed"
        )


class Assistant:
    """Entry point shared by the CLI, the web app and the eval harness."""

    def __init__(self, settings: Settings | None = None, embedder: Embedder | None = None, chat=None) -> None:
        self.settings = settings or Settings()
        self._embedder = embedder
        self._chat = chat

    @cached_property
    def embedder(self) -> Embedder:
        return self._embedder or default_embedder()

    @cached_property
    def store(self) -> Store:
        return Store(self.settings, self.embedder)

    @cached_property
    def retriever(self) -> Retriever:
        return Retriever(self.store, self.embedder, self.settings.retrieve)

    def ingest(
        self,
        paths: Iterable[Path],
        on_file: Callable[[FileResult], None] | None = None,
        on_passages: Callable[[int], None] | None = None,
    ) -> IngestReport:
        """Ingest files and folders; bad files are reported and skipped, stored data is never lost."""
        report = IngestReport()
        for path in iter_files(paths, self.settings.ingest):
            result = FileResult(str(path))
            try:
                if not path.exists():
                    raise BadInputError("no such file or folder")
                result.articles = read_file(path, self.settings.ingest)
                for article in result.articles:
                    status, passages = self.store.upsert_article(article, on_passages=on_passages)
                    report.articles[article.id] = status
                    if status != "unchanged":
                        report.passages_written += len(passages)
            except AssistantError as exc:
                result.error = str(exc)
            report.files.append(result)
            if on_file:
                on_file(result)
        return report
