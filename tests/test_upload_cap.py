"""A web-app upload may add at most ``app.max_upload_records`` articles (issue 21 item 6)."""

from __future__ import annotations

import json

from assistant import ui
from assistant.embed import HashingEmbedder
from assistant.service import Assistant
from assistant.settings import AppSettings


def _records(path, n: int):
    path.write_text("\n".join(json.dumps({"id": f"r{i}", "title": f"Story {i}", "text": f"The ferry {i} sailed on time."}) for i in range(n)))
    return path


def test_an_upload_over_the_record_cap_is_refused_before_anything_is_stored(settings, tmp_path):
    a = Assistant(settings.model_copy(update={"app": AppSettings(max_upload_records=5)}), embedder=HashingEmbedder())
    report = ui.ingest_uploads(a, [str(_records(tmp_path / "big.jsonl", 4)), str(tmp_path / "x.txt")], max_mb=10)
    assert "Upload refused" not in report and "4 article(s) added" in report  # 4 records + a missing file
    report = ui.ingest_uploads(a, [str(_records(tmp_path / "big.jsonl", 6))])
    assert "Upload refused" in report and "6 articles" in report and "at most 5" in report
    assert "ASSISTANT_APP__MAX_UPLOAD_RECORDS" in report
    assert len(a.store.list_articles()) == 4  # only the first upload's records
    # The count covers the whole upload, not each file.
    report = ui.ingest_uploads(a, [str(_records(tmp_path / "a.jsonl", 3)), str(_records(tmp_path / "b.jsonl", 3))])
    assert "Upload refused" in report and "6 articles" in report


def test_count_records_counts_json_records_and_other_files(settings, tmp_path):
    (tmp_path / "one.txt").write_text("Title\n\nBody text of a story.")
    (tmp_path / "list.json").write_text(json.dumps([{"id": "a", "text": "One story."}, {"id": "b", "text": "Two."}]))
    paths = [tmp_path / "one.txt", tmp_path / "list.json", _records(tmp_path / "r.jsonl", 3)]
    assert ui.library.count_records(paths, settings.ingest) == 6
