"""Build hook (the project's metadata is in pyproject.toml).

The prompt files stay in ``prompts/`` at the top of the repository, where editors and the eval
harness read them; a wheel needs them inside the package, so ``build_py`` copies them to
``assistant/prompt_files/`` in the build tree (``assistant.prompts`` reads that copy when it is
not running from a checkout). An editable install reads ``prompts/`` itself and gets no copy.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildPyWithPrompts(build_py):
    """``build_py`` plus ``prompts/*.yaml`` → ``<build>/assistant/prompt_files/``."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        prompts = sorted((ROOT / "prompts").glob("*.yaml"))
        if not prompts:
            raise SystemExit(f"no prompt files in {ROOT / 'prompts'}: the wheel would have none")
        target = Path(self.build_lib) / "assistant" / "prompt_files"
        self.mkpath(str(target))
        for source in prompts:
            self.copy_file(str(source), str(target / source.name))


setup(cmdclass={"build_py": BuildPyWithPrompts})
