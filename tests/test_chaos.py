"""Chaos: SIGKILL of CLI ingests, concurrent same-name ingests, and a long-lived reader while a CLI writes.

Real everything: the `assistant` command, MiniLM, the embedded Chroma store, separate processes.
The kill moments are random (seed printed; ASSISTANT_CHAOS_SEED repeats a run) but always inside
the batch: the test waits for a random number of articles to be written, then a random fraction
of a second, so kills land between articles and in the middle of one.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from assistant import doctor
from assistant.ingest import read_file, split_passages
from assistant.service import Assistant
from assistant.settings import Settings
from tests.conftest import EXAMPLES, ROOT
from tests.test_cli import BIN

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

TOWNS = ["Vellmar", "Ostrand", "Kelby", "Marrow", "Dunhaven", "Penrith", "Aldmoor", "Brisk", "Calder", "Tarn"]
WHAT = ["bridge", "ferry", "library", "school", "harbour wall", "tram stop", "clinic", "market", "pier", "museum"]


def article_text(i: int, version: int) -> str:
    town, what = TOWNS[i % 10], WHAT[(i // 10) % 10]
    day = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"][version % 5]
    body = (
        f"The {what} in {town} reopened on {day} after {i + 3} weeks of repairs costing {1000 + i * 7 + version} euros. "
        f"Residents counted {i + 40 + version} visitors in the first hour, the council said."
    )
    if i % 7 == 0:  # a few articles with a second passage
        body += "\n\n" + " ".join(f"Detail {k} of item {i}: the crew replaced panel {k} of the {what}." for k in range(25))
    return f"Item {i} in {town}\n\n{body}\n"


def write_corpus(folder: Path, n: int, version_of: dict[int, int]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"item-{i:03d}.txt").write_text(article_text(i, version_of.get(i, 0)))


def cli(data: Path, *args: str, check: bool = True, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASSISTANT_", "OPENAI_"))}
    proc = subprocess.run(
        [str(BIN), "--data-dir", str(data), *args], capture_output=True, text=True, env=env, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return proc


def audit_lines(data: Path) -> int:
    path = data / "audit.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


def check_invariants(a: Assistant, data: Path, corpus: Path) -> None:
    """Every searchable passage's article is listed, whole, and removable; leftovers are invisible."""
    listed = {info.id: info for info in a.store.list_articles()}
    for info in listed.values():
        assert len(a.store.get_passages(info.id)) == info.passages, f"{info.id} is not whole"
    searchable = a.store.all_passages()
    assert {p.article_id for p in searchable} <= set(listed)
    assert len(searchable) == sum(i.passages for i in listed.values())
    for query in ("bridge reopened Vellmar", "visitors in the first hour", "crew replaced panel", "Item 17"):
        for hit in a.retriever.search(query, k=10):
            assert hit.passage.article_id in listed
    # Whatever a crash left (passages without a record, or of an old generation) is removable by id.
    report = doctor.diagnose(a, vectors=False)
    assert {p.kind for p in report.problems} <= {"orphan", "stale_generation"}, report.render()
    orphans = [p.article_id for p in report.problems if p.kind == "orphan"]
    if orphans:
        assert "orphan" in cli(data, "remove", orphans[0]).stdout
    if listed:
        victim = sorted(listed)[len(listed) // 2]
        assert f"removed {victim}" in cli(data, "remove", victim).stdout
        assert victim not in {i.id for i in a.store.list_articles()}


def check_converged(a: Assistant, corpus: Path, n_files: int) -> None:
    """One article per file, each with the passages its current text splits into, and nothing else."""
    listed = {info.id: info for info in a.store.list_articles()}
    assert len(listed) == n_files, sorted(listed)[:10]
    for path in sorted(corpus.iterdir()):
        article = read_file(path)[0]
        expected = split_passages(article, a.settings.chunk)
        got = a.store.get_passages(article.id)
        assert [p.text for p in got] == [p.text for p in expected], path.name
        assert listed[article.id].passages == len(expected)
    assert doctor.diagnose(a).problems == []


def test_sigkill_during_cli_ingest_at_random_moments(tmp_path):
    seed = int(os.environ.get("ASSISTANT_CHAOS_SEED", random.randrange(1_000_000)))
    print(f"chaos seed {seed} (set ASSISTANT_CHAOS_SEED={seed} to repeat)")
    rng = random.Random(seed)
    data, corpus = tmp_path / "data", tmp_path / "corpus"
    n_files = 200
    versions: dict[int, int] = {}
    write_corpus(corpus, n_files, versions)
    reader = Assistant(Settings(data_dir=data))
    kills = []
    for round_ in range(5):
        if round_:
            # Change a random third of the articles, so the killed run is replacing, not only adding.
            for i in rng.sample(range(n_files), n_files // 3):
                versions[i] = versions.get(i, 0) + 1
            write_corpus(corpus, n_files, versions)
        to_write = n_files if round_ == 0 else n_files // 3
        before = audit_lines(data)
        target = rng.randrange(1, to_write - 1)
        proc = subprocess.Popen(
            [str(BIN), "--data-dir", str(data), "ingest", "--quiet", str(corpus)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        deadline = time.time() + 600
        while audit_lines(data) - before < target and proc.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0, 0.4))
        assert proc.poll() is None, f"round {round_}: the ingest finished before the kill: {proc.stderr.read()[-500:]}"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
        kills.append(audit_lines(data) - before)
        check_invariants(reader, data, corpus)
        # Re-ingest converges ...
        done = cli(data, "ingest", "--quiet", str(corpus))
        assert "0 file(s) failed" in done.stdout
        check_converged(reader, corpus, n_files)
        # ... and a second run writes nothing.
        lines = audit_lines(data)
        again = cli(data, "ingest", "--quiet", str(corpus))
        assert f"0 article(s) added, 0 replaced, {n_files} unchanged, 0 passage(s) written" in again.stdout
        assert audit_lines(data) == lines
    print(f"articles written before each kill: {kills}")
    assert json.loads(cli(data, "doctor", "--json").stdout)["healthy"] is True


def test_five_concurrent_same_name_ingests_from_processes_and_threads(tmp_path):
    data = tmp_path / "data"
    uploads = []
    for i in range(10):
        folder = tmp_path / f"upload-{i}"
        folder.mkdir()
        path = folder / "report.txt"
        text = f"Report {i}\n\n" + "\n\n".join(
            f"Section {k} of report {i}: inspectors found {k + i} faults in the {WHAT[i]} of {TOWNS[i]}. " * 8 for k in range(i % 5 + 1)
        )
        path.write_text(text)
        uploads.append(path)
    # Five CLI processes at the same moment ...
    procs = [
        subprocess.Popen([str(BIN), "--data-dir", str(data), "ingest", "--quiet", str(p)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for p in uploads[:5]
    ]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [e[-500:] for _, e in outs]
    # ... and five threads of one long-lived process (the app's situation).
    a = Assistant(Settings(data_dir=data))
    barrier = threading.Barrier(5)
    errors: list[BaseException] = []

    def upload(path: Path) -> None:
        try:
            barrier.wait()
            a.ingest([path])
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=upload, args=(p,)) for p in uploads[5:]]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    assert not errors
    infos = a.store.list_articles()
    assert len(infos) == 10
    by_source = {info.source: info for info in infos}
    for path in uploads:
        info = by_source[str(path.resolve())]
        expected = split_passages(read_file(path)[0].model_copy(update={"id": info.id}), a.settings.chunk)
        assert info.passages == len(expected) == len(a.store.get_passages(info.id))
        assert all(f"report {uploads.index(path)}:" in p.text for p in a.store.get_passages(info.id) if "Section" in p.text)
    assert doctor.diagnose(a).problems == []


READER = textwrap.dedent(
    """
    import json, sys, threading, traceback
    from pathlib import Path
    from assistant.service import Assistant
    from assistant.settings import Settings

    a = Assistant(Settings(data_dir=Path(sys.argv[1])))
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["op"] == "checks":
            errors, claims = [], []

            def one():
                try:
                    claims.append(len(a.check(text=cmd["text"]).claims))
                except BaseException:
                    errors.append(traceback.format_exc())

            threads = [threading.Thread(target=one) for _ in range(cmd["n"])]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            out = {"errors": errors, "claims": claims}
        elif cmd["op"] == "search":
            out = {"ids": [h.passage.article_id for h in a.retriever.search(cmd["q"], k=3)]}
        else:
            out = {"ids": [i.id for i in a.store.list_articles()]}
        print(json.dumps(out), flush=True)
    """
)


def test_long_lived_reader_keeps_answering_while_a_cli_ingests(tmp_path):
    data, corpus = tmp_path / "data", tmp_path / "corpus"
    cli(data, "ingest", "--quiet", str(EXAMPLES))
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(data)], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )

    def ask(cmd: dict) -> dict:
        reader.stdin.write(json.dumps(cmd) + "\n")
        reader.stdin.flush()
        return json.loads(reader.stdout.readline())

    draft = (EXAMPLES / "budget-approved.txt").read_text().replace("42 million", "55 million") + (
        "\n\nThe ferry in Kelby reopened on Monday after 15 weeks of repairs costing 1084 euros.\n"
    )
    try:
        warm = ask({"op": "checks", "n": 1, "text": draft})  # loads spaCy, lexicons, the corpus names
        assert warm["errors"] == [] and warm["claims"][0] > 0
        write_corpus(corpus, 60, {})
        ingest = subprocess.Popen(
            [str(BIN), "--data-dir", str(data), "ingest", "--quiet", str(corpus)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        deadline = time.time() + 300
        while audit_lines(data) < 1 and ingest.poll() is None and time.time() < deadline:
            time.sleep(0.05)  # the CLI has loaded MiniLM and started writing
        during = []
        while ingest.poll() is None:
            during.append(ask({"op": "checks", "n": 20, "text": draft}))
        _, err = ingest.communicate(timeout=600)
        assert ingest.returncode == 0, err[-1000:]
        after = ask({"op": "checks", "n": 20, "text": draft})
        assert during, "the ingest ended before a batch of checks ran"
        for batch in [*during, after]:
            assert batch["errors"] == [], batch["errors"][0]
            assert len(batch["claims"]) == 20
        print(f"{20 * len(during)} fact-checks while the CLI wrote, 20 after, 0 errors")
        # The reader follows the writer: new articles are listed and found.
        assert len(ask({"op": "list"})["ids"]) == 64
        assert ask({"op": "search", "q": "ferry in Kelby reopened after 15 weeks"})["ids"][0] == "item-012"
    finally:
        reader.stdin.close()
        reader.wait(timeout=60)
