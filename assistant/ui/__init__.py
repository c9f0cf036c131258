"""The editors' web app: chat, cited summaries, fact-checks, the article library and the eval suite.

``create_app`` (``app``) lays out the page; each tab's handlers live in their own module
(``chat``, ``summaries``, ``factcheck``, ``library``, ``evaluation``) as plain functions that
tests call without a browser; ``common`` holds escaping and messages, ``auth`` logins, roles on
the page and upload limits, ``endpoints`` the API the app exposes.
"""

from __future__ import annotations

from assistant.ui.app import create_app, launch_options
from assistant.ui.auth import Access, RoleGates, check_upload_size, max_upload_bytes
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
from assistant.ui.endpoints import PUBLIC_ENDPOINTS, public_endpoints
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
from assistant.ui.library import (
    ARTICLE_COLUMNS,
    AUDIT_COLUMNS,
    add_preferred_spelling,
    articles_rows,
    audit_rows,
    delete_article,
    ingest_link,
    ingest_uploads,
)
from assistant.ui.summaries import (
    article_choices,
    run_summarize,
    selection_html,
    summarize_stream,
    summary_html,
)

__all__ = [
    "ARTICLE_COLUMNS",
    "AUDIT_COLUMNS",
    "CHECK_UPLOAD_TYPES",
    "CSS",
    "DEV_SUITE",
    "FLAG_COLUMNS",
    "HTML_CSS",
    "METRIC_COLUMNS",
    "NOT_ANSWERED",
    "NO_SOURCES",
    "PUBLIC_ENDPOINTS",
    "TYPO_COLOR",
    "VERDICT_COLORS",
    "VERDICT_ICON",
    "Access",
    "RoleGates",
    "accept_and_recheck",
    "add_preferred_spelling",
    "answer_sources",
    "answer_text",
    "article_choices",
    "articles_rows",
    "audit_rows",
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
    "ingest_link",
    "ingest_uploads",
    "launch_options",
    "mark_quote_html",
    "max_upload_bytes",
    "md_text",
    "metric_rows",
    "notify",
    "ok_status",
    "public_endpoints",
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
