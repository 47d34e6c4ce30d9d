"""The OpenAI-compatible backend against a real chat completions server on the loopback interface.

The server is a ``ThreadingHTTPServer`` on 127.0.0.1 started by a fixture: it decodes each request
like vLLM would, records what it saw (path, headers, body, requests in flight) and answers from a
per-test script. Assertions on the requests are made here, in the test thread.
"""

from __future__ import annotations

import base64
import io
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from PIL import Image

from geocot_cli.backends.openai import OpenAIBackend, image_data_url
from geocot_cli.config import GenerationOptions
from geocot_cli.errors import BackendError, ConfigError

KEY = "sk-test-0123456789abcdef"
DATA_URL_PREFIX = "data:image/png;base64,"


@dataclass
class Seen:
    """One request as the server received it."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    image_size: tuple[int, int] | None
    prompt: str | None


Reply = tuple[int, dict[str, str], bytes | None]  # status, headers, body (None: drop the connection)


def completion(text: str, **message: Any) -> Reply:
    payload = {
        "id": "cmpl-1",
        "object": "chat.completion",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text, **message}}],
    }
    return 200, {"Content-Type": "application/json"}, json.dumps(payload).encode()


def echo(seen: Seen, n: int) -> Reply:
    """Default answer: the prompt and the decoded image size, so order and payload can be checked."""
    size = seen.image_size
    return completion(f"{seen.prompt}|{size[0]}x{size[1]}" if size else f"{seen.prompt}|no-image")


@dataclass
class LoopbackServer:
    url: str
    respond: Callable[[Seen, int], Reply] = echo
    delay: Callable[[Seen], float] = lambda seen: 0.0
    seen: list[Seen] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def decode_image(url: str) -> tuple[int, int] | None:
    if not url.startswith(DATA_URL_PREFIX):
        return None
    raw = base64.b64decode(url[len(DATA_URL_PREFIX) :], validate=True)
    if not raw.startswith(b"\x89PNG\r\n\x1a\n"):
        return None
    with Image.open(io.BytesIO(raw)) as image:
        image.load()
        return image.size


def make_handler(state: LoopbackServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # keep pytest output clean
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length))
            image_size = prompt = None
            try:
                content = body["messages"][0]["content"]
                image_size = decode_image(content[0]["image_url"]["url"])
                prompt = content[1]["text"]
            except (KeyError, IndexError, TypeError, ValueError):
                pass
            seen = Seen(self.path, dict(self.headers.items()), body, image_size, prompt)
            with state.lock:
                state.seen.append(seen)
                n = len(state.seen)
                state.in_flight += 1
                state.max_in_flight = max(state.max_in_flight, state.in_flight)
            try:
                time.sleep(state.delay(seen))
                status, headers, payload = state.respond(seen, n)
            finally:
                with state.lock:
                    state.in_flight -= 1
            if payload is None:  # drop the connection without an answer
                self.close_connection = True
                return
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    state = LoopbackServer(url="")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


@pytest.fixture
def no_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


@pytest.fixture
def with_key(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)


def backend(url: str, **kw: Any) -> OpenAIBackend:
    kw.setdefault("box_convention", "pixel")
    kw.setdefault("backoff", 0.01)
    return OpenAIBackend(url, "geo-model", **kw)


def tile(w: int, h: int, seed: int = 0) -> Image.Image:
    image = Image.new("RGB", (w, h))
    image.putdata([((x * 7 + seed) % 256, (y * 5) % 256, (x + y + seed) % 256) for y in range(h) for x in range(w)])
    return image


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- request shape ------------------------------------------------------------------------------


def test_request_is_a_chat_completion_with_png_data_url_and_key(server, with_key):
    image = tile(37, 21, seed=3)
    out = backend(server.url).generate([image], ["How many ships?"])

    assert out == ["How many ships?|37x21"]
    (seen,) = server.seen
    assert seen.path == "/v1/chat/completions"
    assert seen.headers["Authorization"] == f"Bearer {KEY}"
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.body["model"] == "geo-model"
    (message,) = seen.body["messages"]
    assert message["role"] == "user"
    assert [part["type"] for part in message["content"]] == ["image_url", "text"]
    url = message["content"][0]["image_url"]["url"]
    assert url.startswith(DATA_URL_PREFIX)
    decoded = Image.open(io.BytesIO(base64.b64decode(url[len(DATA_URL_PREFIX) :])))
    assert decoded.format == "PNG" and decoded.size == (37, 21)
    assert list(decoded.convert("RGB").getdata()) == list(image.getdata())  # lossless
    assert message["content"][1]["text"] == "How many ships?"
    # greedy by default, generation options carried over
    assert seen.body["temperature"] == 0.0
    assert seen.body["max_tokens"] == GenerationOptions().max_new_tokens
    assert seen.body["repetition_penalty"] == pytest.approx(1.1)
    assert seen.body["stream"] is False


def test_no_authorization_header_when_key_env_unset(server, no_key):
    assert backend(server.url).generate([tile(8, 8)], ["q"]) == ["q|8x8"]
    assert "Authorization" not in server.seen[0].headers


def test_key_read_from_the_named_env_variable(server, monkeypatch, no_key):
    monkeypatch.setenv("GEO_SERVER_TOKEN", "tok-xyz")
    backend(server.url, api_key_env="GEO_SERVER_TOKEN").generate([tile(8, 8)], ["q"])
    assert server.seen[0].headers["Authorization"] == "Bearer tok-xyz"


def test_generation_options_sampling(server, no_key):
    gen = GenerationOptions(max_new_tokens=77, do_sample=True, temperature=0.7, top_p=0.9, repetition_penalty=1.0)
    backend(server.url, generation=gen).generate([tile(8, 8)], ["q"])
    body = server.seen[0].body
    assert (body["max_tokens"], body["temperature"], body["top_p"]) == (77, 0.7, 0.9)
    assert "repetition_penalty" not in body  # 1.0 is the identity: not sent to strict servers


def test_base_url_with_trailing_path_is_normalised(server, no_key):
    out = backend(server.url + "/chat/completions/").generate([tile(5, 6)], ["q"])
    assert out == ["q|5x6"] and server.seen[0].path == "/v1/chat/completions"


# -- concurrency and order ------------------------------------------------------------------------


def test_order_preserved_with_requests_in_flight_at_once(server, no_key):
    # Earlier prompts are answered later, so completion order is the reverse of input order.
    server.delay = lambda seen: 0.05 + 0.03 * (9 - int(seen.prompt[1:]))
    images = [tile(10 + i, 20 + i, seed=i) for i in range(10)]
    prompts = [f"q{i}" for i in range(10)]
    out = backend(server.url, concurrency=4).generate(images, prompts)

    assert out == [f"q{i}|{10 + i}x{20 + i}" for i in range(10)]
    assert len(server.seen) == 10
    assert 1 < server.max_in_flight <= 4


def test_concurrency_one_is_sequential(server, no_key):
    server.delay = lambda seen: 0.02
    out = backend(server.url, concurrency=1).generate([tile(4, 4)] * 3, ["a", "b", "c"])
    assert out == ["a|4x4", "b|4x4", "c|4x4"] and server.max_in_flight == 1


def test_empty_batch_sends_nothing_and_mismatch_is_refused(server, no_key):
    b = backend(server.url)
    assert b.generate([], []) == [] and server.seen == []
    with pytest.raises(ValueError, match="2 images but 1 prompts"):
        b.generate([tile(4, 4), tile(4, 4)], ["only one"])


# -- retries --------------------------------------------------------------------------------------


def test_503_then_success_is_retried(server, no_key):
    server.respond = lambda seen, n: (
        (503, {"Content-Type": "application/json"}, b'{"error": {"message": "warming up"}}') if n == 1 else echo(seen, n)
    )
    assert backend(server.url).generate([tile(9, 7)], ["q"]) == ["q|9x7"]
    assert len(server.seen) == 2


def test_429_honours_retry_after_zero(server, no_key):
    server.respond = lambda seen, n: (429, {"Retry-After": "0"}, b"slow down") if n == 1 else echo(seen, n)
    start = time.monotonic()
    # A 30 s backoff would be used without Retry-After; the header must win.
    out = backend(server.url, backoff=30.0).generate([tile(9, 7)], ["q"])
    assert out == ["q|9x7"] and len(server.seen) == 2
    assert time.monotonic() - start < 3.0


def test_persistent_503_gives_up_after_max_retries(server, no_key):
    server.respond = lambda seen, n: (503, {}, b'{"error": {"message": "engine overloaded"}}')
    with pytest.raises(BackendError, match="HTTP 503") as info:
        backend(server.url, max_retries=2).generate([tile(4, 4)], ["q"])
    assert "engine overloaded" in str(info.value) and "3 tries" in str(info.value)
    assert len(server.seen) == 3


def test_timeout_is_retried(server, no_key):
    server.delay = lambda seen: 1.0 if len(server.seen) == 1 else 0.0
    out = backend(server.url, timeout=0.3).generate([tile(6, 6)], ["q"])
    assert out == ["q|6x6"] and len(server.seen) == 2


def test_dropped_connection_is_retried(server, no_key):
    server.respond = lambda seen, n: (200, {}, None) if n == 1 else echo(seen, n)
    assert backend(server.url).generate([tile(6, 6)], ["q"]) == ["q|6x6"]
    assert len(server.seen) == 2


# -- errors ---------------------------------------------------------------------------------------


def test_unreachable_server_fails_fast_with_one_clear_line(no_key):
    url = f"http://127.0.0.1:{free_port()}/v1"
    b = OpenAIBackend(url, "geo-model", box_convention="pixel")  # default backoff and retries
    start = time.monotonic()
    with pytest.raises(BackendError) as info:
        b.generate([tile(4, 4)] * 3, ["a", "b", "c"])
    assert time.monotonic() - start < 5.0
    message = str(info.value)
    assert "\n" not in message
    assert f"{url}/chat/completions" in message
    assert "connection refused" in message and "--base-url" in message and "server is running" in message


def test_400_fails_at_once_with_the_server_message(server, no_key):
    body = {"error": {"message": "This model's maximum context length is 4096 tokens", "type": "BadRequestError"}}
    server.respond = lambda seen, n: (400, {"Content-Type": "application/json"}, json.dumps(body).encode())
    with pytest.raises(BackendError, match="maximum context length is 4096 tokens") as info:
        backend(server.url).generate([tile(4, 4)], ["q"])
    assert "HTTP 400" in str(info.value)
    assert len(server.seen) == 1  # not retried


def test_404_hints_at_base_url_and_model(server, no_key):
    server.respond = lambda seen, n: (404, {}, b'{"error": "The model `geo-model` does not exist."}')
    with pytest.raises(BackendError, match="does not exist.*ends in /v1"):
        backend(server.url).generate([tile(4, 4)], ["q"])


def test_key_never_in_repr_or_error_messages(server, with_key):
    b = backend(server.url)
    assert KEY not in repr(b) and KEY not in str(vars(b))
    assert "OPENAI_API_KEY" in repr(b)  # the variable's name is fine to show

    # A server that echoes the Authorization header back in its error message.
    def leak(seen: Seen, n: int) -> Reply:
        return 401, {}, json.dumps({"error": {"message": f"bad token {seen.headers['Authorization']}"}}).encode()

    server.respond = leak
    with pytest.raises(BackendError) as info:
        b.generate([tile(4, 4)], ["q"])
    assert server.seen[0].headers["Authorization"] == f"Bearer {KEY}"  # it was sent
    assert "bad token Bearer ***" in str(info.value) and KEY not in str(info.value)
    assert "OPENAI_API_KEY" in str(info.value)

    unreachable = backend(f"http://127.0.0.1:{free_port()}/v1")
    with pytest.raises(BackendError) as info:
        unreachable.generate([tile(4, 4)], ["q"])
    assert KEY not in str(info.value) and KEY not in repr(unreachable)


def test_non_json_answer_is_a_backend_error(server, no_key):
    server.respond = lambda seen, n: (200, {"Content-Type": "text/html"}, b"<html>dashboard</html>")
    with pytest.raises(BackendError, match="not JSON.*OpenAI-compatible"):
        backend(server.url).generate([tile(4, 4)], ["q"])


def test_reasoning_field_is_put_back_into_the_trace(server, no_key):
    server.respond = lambda seen, n: completion("<answer>2</answer>", reasoning_content="Planning: count ships.")
    out = backend(server.url).generate([tile(4, 4)], ["q"])
    assert out == ["<think>Planning: count ships.</think><answer>2</answer>"]


# -- construction ---------------------------------------------------------------------------------


def test_box_convention_is_required_and_checked():
    with pytest.raises(TypeError, match="box_convention"):
        OpenAIBackend("http://localhost:8000/v1", "m")  # type: ignore[call-arg]
    with pytest.raises(ConfigError, match="unknown box convention 'norm10'"):
        OpenAIBackend("http://localhost:8000/v1", "m", box_convention="norm10")
    b = OpenAIBackend("http://localhost:8000/v1", "m", box_convention="norm1000")
    assert (b.name, b.box_convention) == ("openai", "norm1000")


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"base_url": "localhost:8000"}, "--base-url like http://localhost:8000/v1"),
        ({"base_url": "ftp://host/v1"}, "not an http"),
        ({"concurrency": 0}, "--concurrency"),
        ({"timeout": 0}, "--timeout"),
        ({"max_retries": -1}, "--max-retries"),
        ({"model": ""}, "--model"),
    ],
)
def test_bad_options_are_config_errors(kw, match):
    args = {"base_url": "http://localhost:8000/v1", "model": "m", **kw}
    with pytest.raises(ConfigError, match=match):
        OpenAIBackend(args.pop("base_url"), args.pop("model"), box_convention="pixel", **args)


def test_credentials_in_url_are_not_shown(no_key):
    b = OpenAIBackend("http://user:s3cret@localhost:8000/v1", "m", box_convention="pixel")
    assert "s3cret" not in repr(b)


def test_image_data_url_converts_unusual_modes():
    url = image_data_url(Image.new("CMYK", (3, 2)))
    assert decode_image(url) == (3, 2)
