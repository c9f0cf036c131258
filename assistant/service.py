"""The assistant as one object: settings plus lazily built embedder, store, retriever and chat model."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from assistant import qa_boolean, typos, verify
from assistant.audit import AuditLog
from assistant.auth import Actor, process_actor, require
from assistant.brief import BRIEF_PASSAGES, make_brief
from assistant.check import check_article, claims_to_score, load_corpus_names, model_check_claims
from assistant.embed import Embedder, default_embedder
from assistant.errors import AssistantError, BadInputError, EmptyArchiveError
from assistant.fetch import fetch_article
from assistant.ingest import (
    FileResult,
    empty_folder_error,
    expand_inputs,
    is_url,
    make_article,
    read_file,
    split_passages,
)
from assistant.llm import ChatModel, capabilities, get_chat_model
from assistant.memory import release_free_memory
from assistant.prompts import render
from assistant.qa import support_answer
from assistant.qa_boolean import ask_stream
from assistant.recency import NewestFirst, as_of, asks_for_recency
from assistant.retrieve import Retriever
from assistant.settings import Settings
from assistant.store import RemoveResult, Store, UpsertStatus
from assistant.stylebook import StyleBook, editing
from assistant.summarize import resolve_strategy, summarize_stream
from assistant.support import support_scorer
from assistant.types import (
    Answer,
    Article,
    Brief,
    CheckReport,
    ClaimResult,
    FusedSentence,
    Passage,
    Selection,
    Summary,
)

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from assistant.support import SupportScorer
    from assistant.typos import CorpusNames

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
        chat: BaseChatModel | None = None,
        fuse_chat: BaseChatModel | None = None,
        support: SupportScorer | None = None,
    ) -> None:
        """``chat``, ``fuse_chat`` and ``support`` replace the configured ones (a given chat also fuses)."""
        self.settings = settings or Settings()
        self._embedder = embedder
        self._chat = chat
        self._fuse_chat = fuse_chat or chat
        self._support = support
        self.audit = AuditLog(self.settings.audit_path)
        self._corpus: tuple[int, CorpusNames] | None = None  # (store write seq, names)
        self._corpus_lock = threading.Lock()

    @property
    def embedder(self) -> Embedder:
        """The given embedder, else the store's once it is open (a store keeps the MiniLM graph it
        was built with), else the configured graph (for work that reads no store, such as picking
        a pasted text's summary sentences). Queries always use the store's (``retriever``)."""
        if self._embedder is not None:
            return self._embedder
        if "store" in self.__dict__:
            return self.store.embedder
        return self._configured_embedder()

    def _configured_embedder(self) -> Embedder:
        return default_embedder(self.settings.embed.graph, self.settings.model_dir)

    @cached_property
    def store(self) -> Store:
        if self._embedder is not None:
            return Store(self.settings, self._embedder)
        return Store(self.settings, self._configured_embedder(), adopt_graph=True)

    @cached_property
    def retriever(self) -> Retriever:
        # queries are embedded as the store's passages were
        return Retriever(self.store, self.store.embedder, self.settings.retrieve)

    def ingest(
        self,
        paths: Iterable[Path | str],
        on_file: Callable[[FileResult], None] | None = None,
        on_passages: Callable[[int], None] | None = None,
        actor: Actor | None = None,
        on_article: Callable[[str, str], None] | None = None,
    ) -> IngestReport:
        """Ingest files, folders and web links (``https://…`` strings, see ``assistant.fetch``); bad
        inputs are reported and skipped, stored data is never lost. ``on_article(id, status)`` follows
        each stored article (a web upload's progress).

        Each article's id is chosen under the store's writer lock: a file whose name another
        source already uses gets a suffix, whatever else is ingesting at the same time.
        """
        actor = actor or process_actor()
        require(actor, "ingest")
        report = IngestReport()
        for path in expand_inputs(paths, self.settings.ingest):
            result = FileResult(str(path))
            try:
                if isinstance(path, str):
                    articles = [fetch_article(path, self.settings.ingest)]
                elif not path.exists():
                    raise BadInputError("no such file or folder")
                elif path.is_dir():
                    raise empty_folder_error(path, self.settings.ingest)
                else:
                    articles = read_file(path, self.settings.ingest)
                for article in articles:
                    put = self.store.put_article(article, on_passages=on_passages)
                    stored = article if put.article_id == article.id else article.model_copy(update={"id": put.article_id})
                    result.articles.append(stored)
                    report.articles[put.article_id] = put.status
                    if put.status != "unchanged":
                        report.passages_written += len(put.passages)
                        self.audit.record(
                            actor, "ingest", put.article_id, status=put.status, source=article.source, passages=len(put.passages)
                        )
                    if on_article:
                        on_article(put.article_id, put.status)
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

    def ingest_url(self, url: str, actor: Actor | None = None) -> IngestReport:
        """Fetch one web page and store its article (the web app's URL box); same checks as the CLI."""
        if not is_url(url):
            raise BadInputError(f"not a web link: {url!r}", "Give an address that starts with http:// or https://.")
        return self.ingest([url.strip()], actor=actor)

    def remove(self, article_id: str, actor: Actor | None = None) -> RemoveResult:
        """Delete an article and every passage stored under its id (orphans of a crashed ingest too)."""
        actor = actor or process_actor()
        require(actor, "delete")
        result = self.store.remove_article(article_id)
        self.audit.record(actor, "delete", article_id, passages=result.passages, had_record=result.had_record)
        return result

    def record_evaluation(self, suite: str, actor: Actor | None = None, **details) -> None:
        """Check that ``actor`` may run an evaluation and write it to the audit log."""
        actor = actor or process_actor()
        require(actor, "evaluate")
        self.audit.record(actor, "evaluate", suite, **details)

    # ------------------------------------------------------------ generation and checks

    @property
    def chat(self) -> BaseChatModel:
        """The configured chat model (local GGUF, OpenAI-compatible, with the replay cache applied)."""
        if self._chat is None:
            self._chat = get_chat_model(self.settings)
            self.__dict__["_chat_is_configured"] = True
        return self._chat

    @property
    def fuse_chat(self) -> BaseChatModel:
        """The model that writes extract-then-fuse summaries (locally: its own context, prompt-lookup decoding)."""
        if self._fuse_chat is None:
            self._fuse_chat = get_chat_model(self.settings, purpose="fuse")
        return self._fuse_chat

    @property
    def scorer(self) -> SupportScorer | None:
        """The support scorer for fused sentences, or None when ``summary.support`` is off."""
        return self.model_check() if self.settings.summary.support else None

    def resolve_article(self, article_id: str | None = None, text: str | None = None, title: str = "") -> tuple[Article, list[Passage]]:
        """A stored article with its passages, or pasted text split the same way (not stored)."""
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
            scorer=self.scorer if chosen != "extractive" else None,
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

    def ask_stream(
        self, question: str, k: int | None = None, since: int | None = None, until: int | None = None
    ) -> Iterator[str | Answer]:
        """Answer text as it is generated, then the verified Answer as the last item.

        ``since`` / ``until`` (epoch seconds; ``assistant.dates.parse_bound``) limit the passages
        it may answer from to articles published in that range.

        Each part of a multi-part question is answered on its own; yes/no parts from the model's
        calibrated first-token choice (Yes / No / Not stated), not its free text (``qa_boolean``).
        """
        self.require_articles("there is nothing to answer from")
        retriever = self.retriever.within(since, until)
        # "latest", "now", "still", "so far": newer relevant passages first, and the answer says "as of"
        recent = asks_for_recency(question)
        source = NewestFirst(retriever) if recent else retriever
        for item in ask_stream(question, source, self.chat, self.answer_choices, self.settings, k=k):
            if isinstance(item, Answer):
                item = self.date_citations(item)
                if recent and item.answered:
                    item.as_of = as_of(item)
            yield item

    def _date(self, items: list) -> None:
        """Give each citation or evidence record its passage's article title and publication date."""
        passages = self.store.get_passages_by_id([x.passage_id for x in items]) if items else {}
        for x in items:
            p = passages.get(x.passage_id)
            if p is not None:
                x.title = x.title or p.title
                x.published = x.published or p.published

    def date_citations(self, answer: Answer) -> Answer:
        """Each citation with its article's title and publication date (read from the cited passages)."""
        self._date(answer.citations)
        return answer

    def date_evidence(self, report: CheckReport) -> CheckReport:
        """Each evidence quote of a check with its article's publication date (and title if missing)."""
        self._date([e for claim in report.claims for e in (*claim.evidence, *claim.context)])
        return report

    @property
    def answer_choices(self) -> ChatModel | None:
        """The model whose constrained first-token choice answers yes/no questions (``ChatModel.choose``):
        the support scorer's model if one was given, else the configured model (both behind the replay
        cache); None when a test gave a chat model and no support scorer, or when the model cannot score
        tokens (``token_logprobs``): yes/no questions are then answered in free text."""
        if "_answer_choices" not in self.__dict__:
            if self._support is not None:
                choices = self._support.model
            elif self._chat is not None and not self.__dict__.get("_chat_is_configured"):
                choices = None
            else:
                choices = self.chat
            if choices is not None and not capabilities(choices).token_logprobs:
                choices = None
            self.__dict__["_answer_choices"] = choices
        return self.__dict__["_answer_choices"]

    def require_articles(self, consequence: str) -> None:
        """Refuse a question or a search on an empty archive, saying so (not "the articles do not answer")."""
        if not self.store.count():
            raise EmptyArchiveError(f"no articles are stored yet, so {consequence}")

    def ask(self, question: str, k: int | None = None, since: int | None = None, until: int | None = None) -> Answer:
        answer = None
        for item in self.ask_stream(question, k=k, since=since, until=until):
            if isinstance(item, Answer):
                answer = item
        assert answer is not None
        return answer

    def brief(
        self, query: str, since: int | None = None, until: int | None = None, support: bool | None = None
    ) -> Brief:
        """A dated, cited topic brief across articles (``assistant.brief``): a timeline and an overview,
        every line checked like a summary sentence. ``support``: the model check (default: as summaries)."""
        if not query.strip():
            raise BadInputError("the brief's topic is empty", "Say what the brief is about, e.g. 'Marlow footbridge repairs'.")
        self.require_articles("there is nothing to brief from")
        hits = self.retriever.search(query, k=BRIEF_PASSAGES, since=since, until=until)
        scorer = self.scorer if support is None else self.model_check(support)
        return make_brief(query, hits, self.fuse_chat, self.embedder, scorer=scorer)

    def check(
        self,
        article_id: str | None = None,
        text: str | None = None,
        judge: bool | None = None,
        since: int | None = None,
        until: int | None = None,
    ) -> CheckReport:
        """Claim verdicts against the rest of the corpus, and typo / misspelt-name flags.

        ``since`` / ``until`` (epoch seconds) limit the evidence to articles published in that range.
        """
        article, _ = self.resolve_article(article_id, text)
        use_judge = self.settings.llm.judge if judge is None else judge
        # A pasted copy of a stored article must not be its own evidence.
        copies = self.store.find_copies(article.text) if article_id is None else []
        report = check_article(
            article,
            retriever=self.retriever.within(since, until) if self.store.count() else None,
            corpus=self.corpus_names(),
            stylebook=self.stylebook(),
            chat=self.chat if use_judge else None,
            exclude=copies,
        )
        return self.date_evidence(report)

    def support_answer(self, answer: Answer, scorer: SupportScorer | None = None) -> Answer:
        """The model check of an answer's sentences against the passages they cite (second stage)."""
        if not answer.answered or not answer.verdicts:
            return answer
        ids = sorted({c.passage_id for v in answer.verdicts for c in v.citations})
        return support_answer(answer, self.store.get_passages_by_id(ids), scorer or self.support_scorer)

    def model_check(self, requested: bool | None = None) -> SupportScorer | None:
        """The one place that decides whether the model check (second stage) runs: its scorer, or None.

        ``requested`` is the caller's --support/--no-support (None: ``settings.support.enabled``).
        """
        on = self.settings.support.enabled if requested is None else requested
        return self.support_scorer if on else None

    def claims_to_score(self, report: CheckReport) -> list[int]:
        """Indices of the claims the model check (second stage of ``check``) scores."""
        return claims_to_score(report)

    def support_claims(
        self, report: CheckReport, which: list[int] | None = None, scorer: SupportScorer | None = None
    ) -> Iterator[tuple[int, ClaimResult]]:
        """The second stage of a check: (index, claim decided by its calibrated score), one claim at a time."""
        which = claims_to_score(report) if which is None else which
        ids = [e.passage_id for i in which for e in report.claims[i].context]
        passages = self.store.get_passages_by_id(ids)  # the store drops repeated ids
        yield from model_check_claims(report.claims, which, passages, scorer or self.support_scorer)

    def check_with_support(
        self,
        article_id: str | None = None,
        text: str | None = None,
        judge: bool | None = None,
        support: bool | None = None,
        since: int | None = None,
        until: int | None = None,
    ) -> CheckReport:
        """``check`` followed by its model stage when it runs (``model_check``), the claims updated in place."""
        report = self.check(article_id=article_id, text=text, judge=judge, since=since, until=until)
        scorer = self.model_check(support)
        if scorer is not None:
            for i, claim in self.support_claims(report, scorer=scorer):
                report.claims[i] = claim
        return report

    @cached_property
    def support_scorer(self) -> SupportScorer:
        """The model-backed support scorer (its calls go through the replay cache like chat calls)."""
        if self._support is not None:
            return self._support

        return support_scorer(self.settings)

    def corpus_names(self) -> CorpusNames:
        """Name spellings across the stored corpus, kept in memory and brought up to date by
        the store's deltas (only the changed articles are recounted) after any process's write."""
        self.store.sync()
        cached = self._corpus
        if cached is not None and cached[0] == self.store.seq:
            return cached[1]
        with self._corpus_lock:  # concurrent checks build it once
            self.store.sync()
            cached = self._corpus
            if cached is not None and cached[0] == self.store.seq:
                return cached[1]
            seq, changed = self.store.changed_since(cached[0]) if cached is not None else (self.store.seq, None)
            if cached is not None and changed is not None and cached[1].articles is not None:
                names = cached[1].copy()  # checks running now keep the one they have
                for article_id in changed:
                    names.remove_article(article_id)
                for article in self.store.articles_by_id(sorted(changed)):
                    names.add_article(article.id, article.text)
            else:
                names = load_corpus_names(self.store, self.settings.data_dir / "corpus-names.json")
            self._corpus = (seq, names)
            return names

    def stylebook(self):
        return StyleBook.load(self.settings.stylebook_path)

    def warm_up(self) -> None:
        """Load the embedder, spaCy, the lexicons and the chat model, and prefill the answer prompt.

        llama.cpp keeps the last prompt's tokens in its KV cache, so reading the (long, fixed)
        system prompt once here saves editors its ~4 s on their first question.
        """
        self.store.embedder.embed(["warm up"])  # the graph the store's vectors came from
        typos.warm_up()
        verify.warm_up()
        if self.settings.llm.backend == "local" and self.settings.llm.cache == "off":
            messages = render("ask", question="", passages=[])
            self.chat.invoke(messages, max_tokens=1)
            if self.answer_choices is not None:
                # The yes/no prompt's system text and examples, read once into the choice context.
                qa_boolean.warm_up(self.answer_choices)

            if resolve_strategy(self.settings) == "extract_fuse":
                # The fuse prompt's system text and worked examples, read once into its own context.
                self.fuse_chat.invoke(render("fuse", sentences=[], n_sentences=1), max_tokens=1)
        release_free_memory()  # what loading the lexicons and models allocated and let go

    def accept_spelling(self, name: str, actor: Actor | None = None) -> None:
        """An editor accepts a spelling: it is never flagged again."""
        actor = actor or process_actor()
        require(actor, "accept_spelling")
        with editing(self.settings.stylebook_path) as book:
            book.add_allowed(name)
        self.audit.record(actor, "accept_spelling", name)

    def remove_spelling(self, name: str, actor: Actor | None = None) -> list[str]:
        """Take a name out of the style book (accepted, house spelling or variant); says what went."""
        actor = actor or process_actor()
        require(actor, "edit_stylebook")
        missing = BadInputError(
            f"{name!r} is not in the style book", "Run `assistant stylebook show` to see its names; nothing was changed."
        )
        if not StyleBook.load(self.settings.stylebook_path).remove(name):  # refused before the file is written
            raise missing
        with editing(self.settings.stylebook_path) as book:
            removed = book.remove(name)
            if not removed:  # another editor removed it since: raising here leaves the file unsaved
                raise missing
        self.audit.record(actor, "edit_stylebook", name, removed=removed)
        return removed

    def add_preferred_spelling(self, name: str, variants: list[str], actor: Actor | None = None) -> None:
        """Record the preferred spelling of a name with its known wrong variants (a style-book edit)."""
        actor = actor or process_actor()
        require(actor, "edit_stylebook")
        with editing(self.settings.stylebook_path) as book:
            book.add_preferred(name, list(variants))
        self.audit.record(actor, "edit_stylebook", name, variants=list(variants))
