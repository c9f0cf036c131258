"""Tests never write into the repository's ./data (the developer's store and audit log)."""

from __future__ import annotations

import os

from assistant.settings import Settings
from tests.conftest import ROOT


def _points_at_repo_data(path) -> bool:
    return (ROOT / path).resolve() == (ROOT / "data").resolve()


def test_default_settings_in_a_test_use_a_temp_data_dir():
    assert "ASSISTANT_DATA_DIR" in os.environ
    assert not _points_at_repo_data(Settings().data_dir)


def test_default_settings_stay_off_the_repository_data_after_the_settings_fixture(settings):
    # The fixture clears the developer's ASSISTANT_* variables; a CLI call or Settings() made in
    # the same test (e.g. `assistant eval`, which audits the run) must still not reach ./data.
    assert not _points_at_repo_data(Settings().data_dir)
    assert Settings().audit_path == settings.audit_path
