"""The chat-model seam without a real model: fake, replay cache, structured output, OpenAI."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage
from pydantic import BaseModel

from assistant import llm, llm_openai
from assistant.errors import LLMError, ModelMissingError, ReplayMissError, StructuredOutputError
from assistant.llm import LlamaCppChat, ReplayCacheChat, complete_json, get_chat_model, model_name
from assistant.settings import Settings
from assistant.testing import FakeChatModel

MESSAGES = [
    SystemMessage(content="You summarize."),
    HumanMessage(content="Summarize: the bridge opened."),
]
SECRET = "sk-test-DO-NOT-STORE-7f3a9c"


class Fact(BaseModel):
    subject: str
    year: int


def cache_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.json"))


# --------------------------------------------------------------------------- FakeChatModel


def test_fake_returns_queued_replies_in_order_and_keeps_history() -> None:
    fake = FakeChatModel().enqueue("first", "second")
    assert fake.invoke(MESSAGES).content == "first"
    assert (
        fake.invoke([HumanMessage(content="again")], json_schema={"type": "object"}).content
        == "second"
    )
    assert [[m.content for m in call] for call in fake.history] == [
        [m.content for m in MESSAGES],
        ["again"],
    ]
    assert fake.calls[1]["json_schema"] == {"type": "object"}


def test_fake_streams_word_by_word() -> None:
    fake = FakeChatModel().enqueue("The bridge opened on Monday.")
    chunks = [
        c.content for c in fake.stream(MESSAGES) if c.content
    ]  # LangChain adds an empty last chunk
    assert chunks == ["The ", "bridge ", "opened ", "on ", "Monday."]
    assert len(fake.history) == 1


def test_fake_without_queued_reply_raises() -> None:
    with pytest.raises(LLMError, match="no queued response"):
        FakeChatModel().invoke(MESSAGES)


# --------------------------------------------------------------------------- replay cache


def test_record_then_replay_returns_identical_output_without_calling_the_model(
    tmp_path: Path,
) -> None:
    recorder = ReplayCacheChat(
        inner=FakeChatModel().enqueue("Recorded answer [1]."), cache_dir=tmp_path, mode="record"
    )
    recorded = recorder.invoke(MESSAGES, json_schema=Fact)
    assert len(cache_files(tmp_path)) == 1

    inner = FakeChatModel()  # nothing queued: any call would raise
    replayer = ReplayCacheChat(inner=inner, cache_dir=tmp_path, mode="replay")
    replayed = replayer.invoke(MESSAGES, json_schema=Fact)
    assert replayed.content == recorded.content == "Recorded answer [1]."
    assert inner.history == []
    assert replayer.hits == 1
    # Streaming a cached reply yields it in several chunks that add up to the same text.
    chunks = [c.content for c in replayer.stream(MESSAGES, json_schema=Fact) if c.content]
    assert len(chunks) > 1 and "".join(chunks) == recorded.content
    assert inner.history == []


def test_replay_miss_raises_a_clear_error(tmp_path: Path) -> None:
    replayer = ReplayCacheChat(inner=FakeChatModel(), cache_dir=tmp_path, mode="replay")
    with pytest.raises(ReplayMissError, match="no recorded response") as info:
        replayer.invoke(MESSAGES)
    assert "record" in info.value.help
    with pytest.raises(ReplayMissError):
        list(replayer.stream(MESSAGES))


def test_auto_mode_calls_once_then_replays(tmp_path: Path) -> None:
    inner = FakeChatModel().enqueue("only once")
    auto = ReplayCacheChat(inner=inner, cache_dir=tmp_path, mode="auto")
    assert auto.invoke(MESSAGES).content == "only once"
    assert auto.invoke(MESSAGES).content == "only once"
    assert len(inner.history) == 1 and (auto.hits, auto.misses) == (1, 1)


def test_recording_a_stream_stores_the_whole_text(tmp_path: Path) -> None:
    inner = FakeChatModel().enqueue("streamed and stored")
    recorder = ReplayCacheChat(inner=inner, cache_dir=tmp_path, mode="record")
    assert "".join(c.content for c in recorder.stream(MESSAGES)) == "streamed and stored"
    replayer = ReplayCacheChat(inner=FakeChatModel(), cache_dir=tmp_path, mode="replay")
    assert replayer.invoke(MESSAGES).content == "streamed and stored"


def test_off_mode_writes_nothing(tmp_path: Path) -> None:
    off = ReplayCacheChat(inner=FakeChatModel().enqueue("x"), cache_dir=tmp_path, mode="off")
    assert off.invoke(MESSAGES).content == "x"
    assert cache_files(tmp_path) == []


def test_key_changes_with_messages_params_and_model(tmp_path: Path) -> None:
    cache = ReplayCacheChat(inner=FakeChatModel(), cache_dir=tmp_path)
    base = cache.key(MESSAGES)
    assert cache.key(list(MESSAGES)) == base  # stable for an equal request
    other_text = [MESSAGES[0], HumanMessage(content="Summarize: the bridge closed.")]
    other_role = [HumanMessage(content=MESSAGES[0].content), MESSAGES[1]]
    keys = {
        base,
        cache.key(other_text),
        cache.key(other_role),
        cache.key(MESSAGES, stop=["\n"]),
        cache.key(MESSAGES, json_schema=Fact),
        cache.key(MESSAGES, json_schema={"type": "object"}),
    }
    assert len(keys) == 6
    # The schema class and its JSON schema are the same request.
    assert cache.key(MESSAGES, json_schema=Fact) == cache.key(
        MESSAGES, json_schema=Fact.model_json_schema()
    )

    def local(**kw: object) -> ReplayCacheChat:
        return ReplayCacheChat(
            inner=LlamaCppChat(model_path="/nonexistent/m.gguf", **kw), cache_dir=tmp_path
        )

    assert local().key(MESSAGES) != base
    assert local().key(MESSAGES) != local(temperature=0.7).key(MESSAGES)
    assert local().key(MESSAGES) != local(max_tokens=64).key(MESSAGES)
    assert local().key(MESSAGES) == local(n_threads=1).key(
        MESSAGES
    )  # threads do not change the output


def test_cache_files_are_readable_json_sharded_by_key(tmp_path: Path) -> None:
    recorder = ReplayCacheChat(
        inner=FakeChatModel().enqueue("Ça va."), cache_dir=tmp_path, mode="record"
    )
    recorder.invoke(MESSAGES)
    key = recorder.key(MESSAGES)
    path = recorder.path_for(key)
    assert path == tmp_path / key[:2] / f"{key}.json"
    text = path.read_text(encoding="utf-8")
    assert "\n  " in text and "Ça va." in text  # indented, not ASCII-escaped
    entry = json.loads(text)
    assert entry["key"] == key and entry["model"] == "fake"
    assert entry["request"]["messages"][1] == {"role": "user", "content": MESSAGES[1].content}
    assert llm.request_key(entry["request"]) == key


def test_secrets_never_reach_cache_files(tmp_path: Path) -> None:
    recorder = ReplayCacheChat(
        inner=FakeChatModel().enqueue("ok"), cache_dir=tmp_path, mode="record"
    )
    recorder.invoke(MESSAGES, api_key=SECRET, extra_headers={"Authorization": f"Bearer {SECRET}"})
    openai_cached = ReplayCacheChat(
        inner=llm_openai.openai_chat("http://127.0.0.1:9/v1", SECRET, "m"), cache_dir=tmp_path
    )
    assert SECRET not in json.dumps(openai_cached.request(MESSAGES))
    for path in cache_files(tmp_path):
        assert SECRET not in path.read_text(encoding="utf-8")


# --------------------------------------------------------------------------- structured output


def test_complete_json_re_asks_with_the_error_then_succeeds() -> None:
    fake = FakeChatModel().enqueue(
        "Sure! Here it is:",  # not JSON
        '{"subject": "bridge", "year": "last year"}',  # JSON, wrong type
        '```json\n{"subject": "bridge", "year": 2024}\n```',  # valid (fences tolerated)
    )
    fact = complete_json(fake, MESSAGES, Fact, retries=2)
    assert fact == Fact(subject="bridge", year=2024)
    assert len(fake.history) == 3
    assert all(call["json_schema"] == Fact.model_json_schema() for call in fake.calls)
    second = fake.history[1]
    assert isinstance(second[-2], AIMessage) and second[-2].content == "Sure! Here it is:"
    assert "no JSON object" in second[-1].content
    assert "year" in fake.history[2][-1].content  # the validation error names the bad field
    assert fake.history[0] == MESSAGES  # the caller's list is not mutated


def test_complete_json_gives_up_after_the_retries() -> None:
    fake = FakeChatModel().enqueue("nope", "still nope", "never asked")
    with pytest.raises(StructuredOutputError) as info:
        complete_json(fake, MESSAGES, Fact, retries=1)
    assert info.value.attempts == ["nope", "still nope"]
    assert "Fact" in str(info.value) and "2 attempts" in str(info.value)
    assert fake.responses == ["never asked"]


def test_complete_json_with_zero_retries_asks_once() -> None:
    fake = FakeChatModel().enqueue("{}")
    with pytest.raises(StructuredOutputError) as info:
        complete_json(fake, MESSAGES, Fact, retries=0)
    assert len(info.value.attempts) == 1


def test_complete_json_through_the_replay_cache_replays_every_attempt(tmp_path: Path) -> None:
    recorder = ReplayCacheChat(
        inner=FakeChatModel().enqueue("bad", '{"subject": "s", "year": 1}'),
        cache_dir=tmp_path,
        mode="record",
    )
    first = complete_json(recorder, MESSAGES, Fact, retries=2)
    replayer = ReplayCacheChat(inner=FakeChatModel(), cache_dir=tmp_path, mode="replay")
    assert complete_json(replayer, MESSAGES, Fact, retries=2) == first
    assert replayer.hits == 2


# --------------------------------------------------------------------------- factory and names


def test_get_chat_model_local_is_lazy_and_replays_without_the_model(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, model_dir=tmp_path / "no-models")
    chat = get_chat_model(settings)
    assert isinstance(chat, LlamaCppChat)
    assert model_name(chat) == "local/qwen2.5-coder-1.5b-instruct-q4_k_m"
    with pytest.raises(ModelMissingError) as info:
        chat.invoke(MESSAGES)
    assert "make models" in info.value.help

    replaying = get_chat_model(settings, cache="replay")
    assert isinstance(replaying, ReplayCacheChat) and replaying.cache_dir == settings.llm_cache_dir
    assert model_name(replaying) == model_name(chat)
    with pytest.raises(ReplayMissError):
        replaying.invoke(MESSAGES)


def test_get_chat_model_openai_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(LLMError, match="needs an endpoint or a key"):
        get_chat_model(Settings(llm={"backend": "openai"}))
    chat = get_chat_model(
        Settings(llm={"backend": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "qwen"})
    )
    assert model_name(chat) == "qwen"
    assert model_name(chat.bind(json_schema=Fact)) == "qwen"


# ------------------------------------------------------------------ OpenAI adapter, offline


class _FakeOpenAIServer:
    """A loopback stand-in for an OpenAI-compatible server that records what it was sent."""

    def __init__(self, reply: str, reject_json_schema: int | None = None) -> None:
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"body": body, "auth": self.headers.get("Authorization")})
                fmt = body.get("response_format") or {}
                if reject_json_schema and fmt.get("type") == "json_schema":
                    self._send(
                        reject_json_schema,
                        {
                            "message": "1 validation error: ('body', 'response_format', "
                            "'type') Input should be 'text' or 'json_object'"
                        },
                    )
                elif body.get("stream"):
                    self.send_response(200)
                    self.send_header("Content-Type", "text/event-stream")
                    self.end_headers()
                    for i, word in enumerate(reply.split(" ")):
                        delta = {"role": "assistant", "content": word if i == 0 else " " + word}
                        self._event(
                            {
                                "id": "c1",
                                "object": "chat.completion.chunk",
                                "created": 0,
                                "model": "m",
                                "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
                            }
                        )
                    self._event(
                        {
                            "id": "c1",
                            "object": "chat.completion.chunk",
                            "created": 0,
                            "model": "m",
                            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                        }
                    )
                    self.wfile.write(b"data: [DONE]\n\n")
                else:
                    self._send(
                        200,
                        {
                            "id": "c1",
                            "object": "chat.completion",
                            "created": 0,
                            "model": "m",
                            "choices": [
                                {
                                    "index": 0,
                                    "finish_reason": "stop",
                                    "message": {"role": "assistant", "content": reply},
                                }
                            ],
                            "usage": {
                                "prompt_tokens": 5,
                                "completion_tokens": 3,
                                "total_tokens": 8,
                            },
                        },
                    )

            def _send(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _event(self, payload: dict) -> None:
                self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
                self.wfile.flush()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake_server() -> Iterator[callable]:
    servers: list[_FakeOpenAIServer] = []

    def start(reply: str, **kw: int) -> _FakeOpenAIServer:
        servers.append(_FakeOpenAIServer(reply, **kw))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def test_openai_backend_sends_json_schema_and_streams(fake_server, tmp_path: Path) -> None:
    server = fake_server('{"subject": "bridge", "year": 2024}')
    chat = llm_openai.openai_chat(server.base_url, SECRET, "qwen", max_tokens=64)
    fact = complete_json(chat, MESSAGES, Fact)
    assert fact.year == 2024
    sent = server.requests[0]
    assert sent["auth"] == f"Bearer {SECRET}"
    assert sent["body"]["response_format"]["type"] == "json_schema"
    assert sent["body"]["response_format"]["json_schema"]["schema"] == Fact.model_json_schema()
    assert sent["body"]["temperature"] == 0.0
    assert sent["body"]["max_tokens"] == sent["body"]["max_completion_tokens"] == 64

    chunks = [c.content for c in chat.stream(MESSAGES) if c.content]
    assert "".join(chunks) == '{"subject": "bridge", "year": 2024}' and len(chunks) > 1

    recorder = ReplayCacheChat(inner=chat, cache_dir=tmp_path, mode="record")
    recorder.invoke(MESSAGES, json_schema=Fact)
    for path in cache_files(tmp_path):
        assert SECRET not in path.read_text(encoding="utf-8")


@pytest.mark.parametrize("status", [422, 500])  # llama-cpp-python's server really answers 500
def test_openai_backend_falls_back_to_json_object_for_llama_cpp_python_server(
    fake_server, status: int
) -> None:
    server = fake_server('{"subject": "s", "year": 1}', reject_json_schema=status)
    chat = llm_openai.openai_chat(server.base_url, None, "qwen")
    assert complete_json(chat, MESSAGES, Fact).year == 1
    assert all(r["body"]["max_tokens"] == 512 for r in server.requests)
    kinds = [r["body"]["response_format"]["type"] for r in server.requests]
    assert (
        kinds[0] == "json_schema" and kinds[-1] == "json_object"
    )  # (the openai client retries a 500)
    assert server.requests[-1]["body"]["response_format"]["schema"] == Fact.model_json_schema()
    sent = len(server.requests)
    again = llm_openai.openai_chat(
        server.base_url, None, "qwen"
    )  # the working mode is remembered per server
    assert complete_json(again, MESSAGES, Fact).year == 1
    assert [r["body"]["response_format"]["type"] for r in server.requests[sent:]] == ["json_object"]


def test_openai_backend_unreachable_server_is_an_llm_error() -> None:
    chat = llm_openai.openai_chat("http://127.0.0.1:9/v1", None, "qwen", max_retries=0, timeout=5)
    with pytest.raises(LLMError, match="cannot reach"):
        chat.invoke(MESSAGES)


def test_pinned_gguf_is_verified_on_load(tmp_path, monkeypatch):
    from assistant import models
    from assistant.errors import ModelMissingError

    fake = tmp_path / models.PRESETS["0.5b"].filename
    fake.write_bytes(b"GGUF not really a model")
    with pytest.raises(ModelMissingError, match="sha256"):
        models.verify_on_load(fake)
    assert not (tmp_path / f".{fake.name}.verified").exists()
    # A GGUF that is not one of the pinned presets is the user's own: not checked.
    own = tmp_path / "my-own-model.gguf"
    own.write_bytes(b"x")
    models.verify_on_load(own)
