"""The assistant as one object: settings plus lazily built embedder, store, retriever and chat model."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from assistant.embed import Embedder, default_embedder
from assistant.errors import AssistantError, BadInputError
from assistant.ingest import FileResult, iter_files, read_file
from assistant.retrieve import Retriever
from assistant.settings import Settings
from assistant.store import Store, UpsertStatus
from assistant.types import Answer, Article, CheckReport, FusedSentence, Passage, Selection, Summary

log = logging.getLogger(__name__)


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

    def __init__(
        self,
        settings: Settings | None = None,
        embedder: Embedder | None = None,
        chat=None,
        fuse_chat=None,
        scorer=None,
    ) -> None:
        """``chat``, ``fuse_chat`` and ``scorer`` replace the configured ones (a given chat also fuses)."""
        self.settings = settings or Settings()
        self._embedder = embedder
        self._chat = chat
        self._fuse_chat = fuse_chat or chat
        self._scorer = scorer

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
                result.articles = [self._unique_id(a, report) for a in read_file(path, self.settings.ingest)]
                for article in result.articles:
                    status, passages = self.store.upsert_article(article, on_passages=on_passages)
                    report.articles[article.id] = status
                    if status != "unchanged":
                        report.passages_written += len(passages)
            except AssistantError as exc:
                result.error = str(exc)
            except RecursionError:
                result.error = "structure nested too deeply to read (malformed JSON?)"
            except Exception as exc:  # one broken file must not stop the batch or lose stored data
                log.exception("ingest of %s failed", path)
                result.error = f"unexpected error: {type(exc).__name__}: {exc}"
            report.files.append(result)
            if on_file:
                on_file(result)
        return report

    # ------------------------------------------------------------ generation and checks

    def _unique_id(self, article: Article, report: IngestReport) -> Article:
        """Keep ids one-to-one with sources: a second file with the same name gets a suffix instead of replacing."""
        taken = article.id in report.articles
        if not taken:
            stored = self.store.articles.get(ids=[article.id], include=["metadatas"])
            if stored["ids"]:
                source = (stored["metadatas"][0] or {}).get("source", "")
                taken = bool(source) and source != article.source
        if not taken:
            return article
        suffix = hashlib.sha1(f"{article.source}:{article.id}".encode()).hexdigest()[:6]
        return article.model_copy(update={"id": f"{article.id}-{suffix}"})

    @property
    def chat(self):
        """The configured chat model (local GGUF, OpenAI-compatible, with the replay cache applied)."""
        if self._chat is None:
            from assistant.llm import get_chat_model

            self._chat = get_chat_model(self.settings)
        return self._chat

    @property
    def fuse_chat(self):
        """The model that writes extract-then-fuse summaries (locally: its own context, prompt-lookup decoding)."""
        if self._fuse_chat is None:
            from assistant.llm import get_chat_model

            self._fuse_chat = get_chat_model(self.settings, purpose="fuse")
        return self._fuse_chat

    @property
    def scorer(self):
        """The support scorer for fused sentences, or None when ``summary.support`` is off."""
        if not self.settings.summary.support:
            return None
        if self._scorer is None:
            from assistant.support import support_scorer

            self._scorer = support_scorer(self.settings)
        return self._scorer

    def resolve_article(self, article_id: str | None = None, text: str | None = None, title: str = "") -> tuple[Article, list[Passage]]:
        """A stored article with its passages, or pasted text split the same way (not stored)."""
        from assistant.ingest import make_article, split_passages

        if article_id:
            return self.store.get_article(article_id), self.store.get_passages(article_id)
        if text is None or not text.strip():
            raise BadInputError("nothing to work on: give an article id, a file or some text")
        article = make_article(text, "draft", title=title)
        return article, split_passages(article, self.settings.chunk)

    def summarize_stream(
        self, article_id: str | None = None, text: str | None = None, sentences: int = 5, strategy: str | None = None
    ) -> Iterator[Selection | FusedSentence | Summary]:
        """A summary as it is made: the extractive selection at once, each checked sentence, then the Summary."""
        from assistant.summarize import resolve_strategy, summarize_stream

        article, passages = self.resolve_article(article_id, text)
        chosen = resolve_strategy(self.settings, strategy)
        chat = self.chat if chosen == "abstractive" else self.fuse_chat if chosen == "extract_fuse" else None
        yield from summarize_stream(
            article,
            passages,
            chat,
            self.settings,
            sentences,
            embedder=self.embedder,
            scorer=self.scorer if chosen == "extract_fuse" else None,
            strategy=chosen,
        )

    def summarize(
        self, article_id: str | None = None, text: str | None = None, sentences: int = 5, strategy: str | None = None
    ) -> Summary:
        """A cited summary; every sentence verified against what it cites (strategy: settings.summary.strategy)."""
        summary = None
        for event in self.summarize_stream(article_id, text, sentences, strategy):
            if isinstance(event, Summary):
                summary = event
        assert summary is not None
        return summary

    def ask_stream(self, question: str, k: int | None = None) -> Iterator[str | Answer]:
        """Answer text as it is generated, then the verified Answer as the last item."""
        from assistant.qa import answer_stream

        yield from answer_stream(question, self.retriever, self.chat, self.settings, k=k)

    def ask(self, question: str, k: int | None = None) -> Answer:
        answer = None
        for item in self.ask_stream(question, k=k):
            if isinstance(item, Answer):
                answer = item
        assert answer is not None
        return answer

    def check(self, article_id: str | None = None, text: str | None = None, judge: bool | None = None) -> CheckReport:
        """Claim verdicts against the rest of the corpus, and typo / misspelt-name flags."""
        from assistant.check import check_article

        article, _ = self.resolve_article(article_id, text)
        use_judge = self.settings.llm.judge if judge is None else judge
        # A pasted copy of a stored article must not be its own evidence.
        copies = self.store.find_copies(article.text) if article_id is None else []
        return check_article(
            article,
            retriever=self.retriever if self.store.count() else None,
            corpus=self.corpus_names(),
            stylebook=self.stylebook(),
            chat=self.chat if use_judge else None,
            exclude=copies,
        )

    def corpus_names(self):
        """Name spellings across the stored corpus, cached on disk per store content."""
        from assistant.check import load_corpus_names

        return load_corpus_names(self.store, self.settings.data_dir / "corpus-names.json")

    def stylebook(self):
        from assistant.stylebook import StyleBook

        return StyleBook.load(self.settings.stylebook_path)

    def warm_up(self) -> None:
        """Load the embedder, spaCy, the lexicons and the chat model, and prefill the answer prompt.

        llama.cpp keeps the last prompt's tokens in its KV cache, so reading the (long, fixed)
        system prompt once here saves editors its ~4 s on their first question.
        """
        from assistant import typos, verify
        from assistant.prompts import render

        self.embedder.embed(["warm up"])
        typos.warm_up()
        verify.warm_up()
        if self.settings.llm.backend == "local" and self.settings.llm.cache == "off":
            messages = render("ask", question="", passages=[])
            self.chat.invoke(messages, max_tokens=1)
            from assistant.summarize import resolve_strategy

            if resolve_strategy(self.settings) == "extract_fuse":
                # The fuse prompt's system text and worked examples, read once into its own context.
                self.fuse_chat.invoke(render("fuse", sentences=[], n_sentences=1), max_tokens=1)

    def accept_spelling(self, name: str) -> None:
        """An editor accepts a spelling: it is never flagged again."""
        from assistant.stylebook import editing

        with editing(self.settings.stylebook_path) as book:
            book.add_allowed(name)
