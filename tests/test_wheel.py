"""The wheel: `python -m build` makes it, and installed in a fresh virtual environment (no system
site-packages, its dependencies resolved by pip from the configured indexes) with the offline
model step, `assistant ingest`, `summarize`, `ask` and `check` work from a folder outside the
checkout, on the real local model (the 0.5B preset, the faster one).

Slow: installing every dependency into an empty venv took 5 min 43 s on the shared 2-core machine
(load average 11), and each model command up to 2.5 min at that load. The llama.cpp runtime is
the wheel `make models` already built in .build/wheels; the model files are the checkout's
models/ (the model step finds them in place and installs tiktoken's BPE files into the new venv).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, ROOT

pytestmark = pytest.mark.slow

# Not part of a source tree handed to the build: environments, caches, outputs, models.
_SKIP = {
    ".venv", ".git", ".build", "models", "data", "build", "dist", "__pycache__", ".pytest_cache",
    ".ruff_cache", "eval-out", "test-artifacts",
}


def _run(args: list, cwd: Path, env: dict[str, str], timeout: float = 1800) -> str:
    start = time.perf_counter()
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout,
        check=False,
    )
    took = time.perf_counter() - start
    print(f"{took:6.1f} s  {' '.join(str(a) for a in args)[:120]}")
    assert done.returncode == 0, f"{args} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _package_data() -> set[str]:
    """Files of the package that are not Python (weights, thresholds …), as wheel paths."""
    found = set()
    for path in (ROOT / "assistant").rglob("*"):
        if path.is_file() and path.suffix not in {".py", ".pyc"} and "__pycache__" not in path.parts:
            found.add(path.relative_to(ROOT).as_posix())
    return found


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict[str, str], Path]:
    """(venv, environment for its commands, a work folder outside the checkout)."""
    # `make llama` names the wheel it built for this machine's instruction set
    built = ROOT / ".build" / "wheels" / "llama.txt"
    llama = [ROOT / built.read_text().strip()] if built.is_file() else []
    if not llama or not llama[0].is_file():
        pytest.fail("no llama-cpp-python wheel in .build/wheels: run `make models` first", pytrace=False)
    tmp = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_") and k != "PYTHONPATH"}

    # A copy of the source tree, so the build writes nothing into the checkout.
    source = tmp / "source"
    shutil.copytree(
        ROOT, source, ignore=lambda _, names: [n for n in names if n in _SKIP or n.endswith(".egg-info")]
    )
    dist = tmp / "dist"
    _run([sys.executable, "-m", "build", "--outdir", dist, source], tmp, env)
    wheels = list(dist.glob("newsroom_assistant-*.whl"))
    assert len(wheels) == 1 and list(dist.glob("newsroom_assistant-*.tar.gz")), list(dist.iterdir())
    names = set(zipfile.ZipFile(wheels[0]).namelist())
    prompts = {f"assistant/prompt_files/{p.name}" for p in (ROOT / "prompts").glob("*.yaml")}
    assert prompts and prompts <= names, sorted(prompts - names)
    data = _package_data()
    assert {"assistant/support/weights.json", "assistant/qa_boolean_weights.json"} <= data
    assert data <= names, f"package files missing from the wheel: {sorted(data - names)}"
    # only the product installs: no top-level "eval" (research tooling and the replay cache stay in the repo)
    assert {n.split("/")[0] for n in names if not n.startswith("newsroom_assistant-")} == {"assistant"}, sorted(names)[:20]

    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", venv], tmp, env)
    assert "include-system-site-packages = false" in (venv / "pyvenv.cfg").read_text()
    # pip resolves every dependency for the empty venv from the configured indexes.
    _run([venv / "bin" / "python", "-m", "pip", "install", "--quiet", wheels[0], llama[0]], tmp, env)
    env.update(
        ASSISTANT_DATA_DIR=str(tmp / "data"),
        ASSISTANT_MODEL_DIR=str(ROOT / "models"),
        ASSISTANT_LLM__PRESET="0.5b",
    )
    work = tmp / "work"
    work.mkdir()
    out = _run([venv / "bin" / "python", "-m", "assistant.setup_models", "--preset", "0.5b"], work, env)
    assert "tiktoken BPE files: " + str(venv) in out and "model 0.5b:" in out
    return venv, env, work


def test_the_installed_package_is_the_wheel_with_its_prompts(installed):
    venv, env, work = installed
    code = (
        "import assistant, assistant.prompts as p; print(assistant.__file__); print(p.PROMPTS_DIR); "
        "print(p.render('ask', question='q', passages=[]) and 'rendered')"
    )
    out = _run([venv / "bin" / "python", "-c", code], work, env)
    module, prompts_dir, rendered = out.split("\n")[:3]
    site = str(venv / "lib")
    assert module.startswith(site) and prompts_dir.startswith(site) and prompts_dir.endswith("prompt_files")
    assert rendered == "rendered"
    assert str(ROOT) not in module


def test_the_wheel_ingests_summarizes_asks_and_checks_outside_the_checkout(installed):
    venv, env, work = installed
    cli = venv / "bin" / "assistant"
    articles = work / "articles"
    shutil.copytree(EXAMPLES, articles)
    out = _run([cli, "ingest", "--quiet", articles], work, env)
    assert "4 article(s) added" in out and "0 file(s) failed" in out

    summary = json.loads(_run([cli, "summarize", "budget-approved", "-n", "2", "--json"], work, env))
    assert summary["sentences"] and "0.5b" in summary["model"], summary
    assert all(s["text"].strip() for s in summary["sentences"])

    answer = json.loads(
        _run([cli, "ask", "How many fishermen gathered outside the town hall?", "--json"], work, env)
    )
    assert answer["answered"] and "0.5b" in answer["model"], answer
    assert any(c["article_id"] == "harbour-vote" for c in answer["citations"]), answer

    draft = work / "draft.txt"
    draft.write_text(
        "Harbour draft\n\nAbout 300 fishermen gathered outside Vellmar town hall on Monday.\n",
        encoding="utf-8",
    )
    report = json.loads(_run([cli, "check", "--file", draft, "--json"], work, env))
    verdicts = {c["text"][:19]: c["verdict"] for c in report["claims"]}
    assert verdicts.get("About 300 fishermen") == "contradicted", report["claims"]
