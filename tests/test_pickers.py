"""Article pickers at archive size (issue 21 item 6): search on the server, newest matches first, capped."""

from __future__ import annotations

from assistant import ui
from assistant.embed import HashingEmbedder
from assistant.service import Assistant


def test_pickers_search_titles_and_ids_and_show_the_newest_matches(settings, tmp_path):
    a = Assistant(settings, embedder=HashingEmbedder())
    for i, title in enumerate(["Ferry sinks", "Budget vote", "Ferry returns", "Harbour fees", "Ferry strike"]):
        path = tmp_path / f"story-{i}.txt"
        path.write_text(title + "\n\nThe " + title.lower() + f" story, paragraph {i}.")
        a.ingest([path])
    newest = ui.article_choices(a, limit=2)
    assert [i for _, i in newest] == ["story-4", "story-3"]
    assert [i for _, i in ui.article_choices(a, "ferry")] == ["story-4", "story-2", "story-0"]
    assert [i for _, i in ui.article_choices(a, "FERRY story-2")] == ["story-2"]
    assert ui.article_choices(a, "nothing like this") == []
    rows = ui.library.articles_rows(a, "ferry", limit=2)
    assert [r[0] for r in rows] == ["story-4", "story-2"] and rows[0][1] == "Ferry strike"
    assert len(ui.library.articles_rows(a)) == 5
