"""Find and repair store inconsistencies left by crashes or outside writers (``assistant doctor``).

Problems found, and what ``--repair`` does about each:

* ``orphan``: passages whose article has no record (an ingest killed before its switch) →
  deleted. Readers never show them, but they take space and ``remove`` must find them.
* ``stale_generation``: passages of a generation the article record does not name (an old
  version whose delete was interrupted) → deleted.
* ``count_mismatch``: the named generation holds more or fewer passages than the record says
  (a passage lost, or written twice) → the article is rebuilt from its stored raw text.
* ``missing_vector``: a live passage whose vector is missing from the index → re-embedded.

Everything runs under the store's writer lock, so an ingest in progress is never taken for a
crash; that means ``doctor`` waits for the article being written, never for a whole batch.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Literal

from assistant.auth import Actor, process_actor, require
from assistant.store import LOCK_TIMEOUT

ProblemKind = Literal["orphan", "stale_generation", "count_mismatch", "missing_vector"]


@dataclass
class Problem:
    kind: ProblemKind
    article_id: str
    detail: str
    records: list[str] = field(default_factory=list)  # Chroma record ids involved
    repaired: bool = False


@dataclass
class DoctorReport:
    articles: int = 0
    passages: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return all(p.repaired for p in self.problems)

    def to_json(self) -> dict:
        return {
            "articles": self.articles,
            "passages": self.passages,
            "healthy": self.healthy,
            "problems": [{k: v for k, v in asdict(p).items() if k != "records"} | {"records": len(p.records)} for p in self.problems],
        }

    def render(self) -> str:
        lines = [f"{self.articles} article(s), {self.passages} passage record(s)"]
        if not self.problems:
            lines.append("no problems found")
        for p in self.problems:
            state = "repaired" if p.repaired else "found"
            lines.append(f"  {state}: {p.kind} {p.article_id}: {p.detail}")
        if self.problems and not self.healthy:
            lines.append("Run `assistant doctor --repair` to fix these.")
        return "\n".join(lines)


def diagnose(assistant, vectors: bool = True) -> DoctorReport:
    """Every inconsistency between article records, passage records and the vector index."""
    store = assistant.store
    with store.lock.hold(LOCK_TIMEOUT):
        catalog = dict(store.catalog())
        raw = store.raw_passages(["metadatas"])
        report = DoctorReport(articles=len(catalog), passages=len(raw["ids"]))
        by_article: dict[str, list[tuple[str, dict]]] = defaultdict(list)
        for rid, meta in zip(raw["ids"], raw["metadatas"]):
            by_article[str((meta or {}).get("article_id", ""))].append((rid, meta or {}))
        live_ids: list[str] = []
        for article_id, rows in sorted(by_article.items()):
            rec = catalog.get(article_id)
            if rec is None:
                report.problems.append(
                    Problem("orphan", article_id, f"{len(rows)} passage(s) without an article record", [r for r, _ in rows])
                )
                continue
            stale = [r for r, m in rows if str(m.get("gen", "")) != rec.gen]
            live = [r for r, m in rows if str(m.get("gen", "")) == rec.gen]
            live_ids += live
            if stale:
                gens = sorted({str(m.get("gen", "")) or "(none)" for r, m in rows if r in set(stale)})
                report.problems.append(
                    Problem(
                        "stale_generation",
                        article_id,
                        f"{len(stale)} passage(s) of generation(s) {', '.join(gens)}; the record names {rec.gen or '(none)'}",
                        stale,
                    )
                )
            if len(live) != rec.passages:
                report.problems.append(
                    Problem(
                        "count_mismatch",
                        article_id,
                        f"the record says {rec.passages} passage(s), {len(live)} are stored",
                        live,
                    )
                )
        for article_id in sorted(set(catalog) - set(by_article)):
            if catalog[article_id].passages:
                report.problems.append(
                    Problem("count_mismatch", article_id, f"the record says {catalog[article_id].passages} passage(s), 0 are stored")
                )
        if vectors and live_ids:
            meta_of = {r: m for r, m in zip(raw["ids"], raw["metadatas"])}
            missing = store.vector_missing(live_ids)
            grouped: dict[str, list[str]] = defaultdict(list)
            for rid in missing:
                grouped[str((meta_of.get(rid) or {}).get("article_id", ""))].append(rid)
            for article_id, rids in sorted(grouped.items()):
                report.problems.append(Problem("missing_vector", article_id, f"{len(rids)} passage(s) without a vector", rids))
    return report


def repair(assistant, actor: Actor | None = None) -> DoctorReport:
    """Diagnose and fix every problem (under the writer lock); each fix goes to the audit log."""
    actor = actor or process_actor()
    require(actor, "repair")
    store = assistant.store
    with store.lock.hold(LOCK_TIMEOUT):
        report = diagnose(assistant)
        rebuilt: set[str] = set()
        for problem in report.problems:
            if problem.kind in ("orphan", "stale_generation"):
                store.delete_passage_records(problem.records)
                action = f"deleted {len(problem.records)} passage record(s)"
            elif problem.kind == "count_mismatch":
                if problem.article_id not in rebuilt:
                    store.rebuild_article(problem.article_id)
                    rebuilt.add(problem.article_id)
                action = "rebuilt from the stored article text"
            else:
                if problem.article_id in rebuilt:
                    action = "rebuilt from the stored article text"
                else:
                    store.restore_vectors(problem.records)
                    action = f"re-embedded {len(problem.records)} passage(s)"
            problem.repaired = True
            problem.detail += f" → {action}"
            assistant.audit.record(actor, "repair", problem.article_id, problem=problem.kind, fix=action)
    return report
