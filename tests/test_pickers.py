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


def test_pickers_page_through_every_match(settings, tmp_path):
    from assistant.ui.summaries import page_of, picker_page

    a = Assistant(settings, embedder=HashingEmbedder())
    for i in range(7):
        path = tmp_path / f"ferry-{i}.txt"
        path.write_text(f"Ferry story {i}\n\nThe ferry {i} sailed on time.")
        a.ingest([path])
    pages = [ui.article_choices(a, "ferry", limit=3, page=p) for p in (1, 2, 3)]
    assert [[i for _, i in p] for p in pages] == [["ferry-6", "ferry-5", "ferry-4"], ["ferry-3", "ferry-2", "ferry-1"], ["ferry-0"]]
    assert page_of(list(range(7)), 3, 3) == ([6], 3, "7–7 of 7")
    assert page_of(list(range(7)), 9, 3)[1:] == (3, "7–7 of 7")  # past the end: the last page
    assert page_of(list(range(7)), 0, 3)[1:] == (1, "1–3 of 7")
    assert page_of([], 1, 3) == ([], 1, "no match")
    assert page_of(list(range(2500)), 2, 200)[2] == "201–400 of 2,500"
    dropdown, page = picker_page(a, "ferry", 2, size=3)
    assert page == 2 and [c[1] for c in dropdown.choices] == ["ferry-3", "ferry-2", "ferry-1"]
    assert "4–6 of 7" in dropdown.label
    rows = ui.library.articles_rows(a, "ferry", limit=3, page=3)
    assert [r[0] for r in rows] == ["ferry-0"]
    shown, page, where = ui.library.articles_page(a, "", 5, size=3)
    assert (page, where, [x.id for x in shown]) == (3, "7–7 of 7", ["ferry-0"])
