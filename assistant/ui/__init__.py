"""The editors' web app: chat, cited summaries, fact-checks, the article library and the eval suite.

``create_app`` (``app``) lays out the page; each tab's handlers live in their own module
(``chat``, ``summaries``, ``factcheck``, ``library``, ``evaluation``) as plain functions that
tests call without a browser; ``common`` holds escaping and messages, ``auth`` logins and upload
limits.
"""

from __future__ import annotations

from assistant.ui.app import create_app
from assistant.ui.auth import USERS_ENV, check_upload_size, load_auth, max_upload_bytes, parse_users
from assistant.ui.chat import (
    NO_SOURCES,
    NOT_ANSWERED,
    answer_sources,
    answer_text,
    chat_html,
    chat_stream,
    sources_html,
)
from assistant.ui.common import (
    CSS,
    HTML_CSS,
    VERDICT_COLORS,
    VERDICT_ICON,
    error_status,
    esc,
    find_quote,
    friendly_error,
    mark_quote_html,
    md_text,
    notify,
    ok_status,
)
from assistant.ui.evaluation import DEV_SUITE, METRIC_COLUMNS, metric_rows, run_evaluation
from assistant.ui.factcheck import (
    CHECK_UPLOAD_TYPES,
    FLAG_COLUMNS,
    TYPO_COLOR,
    accept_and_recheck,
    flag_rows,
    highlight_colors,
    highlight_segments,
    read_text_upload,
    run_check,
    typo_label,
)
from assistant.ui.library import ARTICLE_COLUMNS, articles_rows, delete_article, ingest_uploads
from assistant.ui.summaries import (
    article_choices,
    run_summarize,
    selection_html,
    summarize_stream,
    summary_html,
)

__all__ = [
    "ARTICLE_COLUMNS",
    "CHECK_UPLOAD_TYPES",
    "CSS",
    "DEV_SUITE",
    "FLAG_COLUMNS",
    "HTML_CSS",
    "METRIC_COLUMNS",
    "NOT_ANSWERED",
    "NO_SOURCES",
    "TYPO_COLOR",
    "USERS_ENV",
    "VERDICT_COLORS",
    "VERDICT_ICON",
    "accept_and_recheck",
    "answer_sources",
    "answer_text",
    "article_choices",
    "articles_rows",
    "chat_html",
    "chat_stream",
    "check_upload_size",
    "create_app",
    "delete_article",
    "error_status",
    "esc",
    "find_quote",
    "flag_rows",
    "friendly_error",
    "highlight_colors",
    "highlight_segments",
    "ingest_uploads",
    "load_auth",
    "mark_quote_html",
    "max_upload_bytes",
    "md_text",
    "metric_rows",
    "notify",
    "ok_status",
    "parse_users",
    "read_text_upload",
    "run_check",
    "run_evaluation",
    "run_summarize",
    "selection_html",
    "sources_html",
    "summarize_stream",
    "summary_html",
    "typo_label",
]
