"""The OpenAI-compatible backend: a model served by vLLM, SGLang or TGI over HTTP.

Each tile becomes one ``POST {base_url}/chat/completions`` request whose user message holds the tile
as a base64 PNG data URL and the prompt as text. ``concurrency`` requests are in flight at once (a
thread pool; the standard library only, no new dependency) and the answers come back in input
order. 429, 5xx, timeouts and dropped connections are retried with exponential backoff and jitter
(``Retry-After`` wins when the server sends it); a server that cannot be reached at all fails after
a short, bounded number of tries with one line naming the URL. Other 4xx answers fail at once with
the server's own message.

The API key is read from the environment variable named by ``api_key_env`` when a request is built,
never stored on the backend, never logged and scrubbed from every error message; with the variable
unset no ``Authorization`` header is sent (local servers usually need none).

>>> backend = OpenAIBackend("http://localhost:8000/v1", "rsthinker", box_convention="norm1000")
>>> backend.url
'http://localhost:8000/v1/chat/completions'
>>> backend
OpenAIBackend(base_url='http://localhost:8000/v1', model='rsthinker', box_convention='norm1000', concurrency=4, api_key_env='OPENAI_API_KEY')
"""

from __future__ import annotations

import base64
import email.utils
import errno
import http.client
import io
import json
import logging
import os
import random
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ..boxes import check_convention
from ..config import PAPER_REPETITION_PENALTY, GenerationOptions
from ..errors import BackendError, ConfigError

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["OpenAIBackend", "image_data_url"]

log = logging.getLogger(__name__)

#: Retries for a server that refuses connections or whose name does not resolve: it is most
#: likely not running or mistyped, so fail within a few seconds instead of backing off for long.
UNREACHABLE_RETRIES = 2
#: Upper bound, in seconds, on any single wait between tries (``Retry-After`` included).
MAX_WAIT = 60.0

_UNREACHABLE_ERRNOS = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL, errno.ECONNREFUSED}


class _Cancelled(Exception):
    """Another request of the same batch failed; this one stops without a further try."""


def image_data_url(image: Image.Image) -> str:
    """Encode a PIL image as a ``data:image/png;base64,...`` URL, as chat completions expects.

    >>> from PIL import Image
    >>> url = image_data_url(Image.new("RGB", (4, 3)))
    >>> url[:22]
    'data:image/png;base64,'
    """
    if image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


class OpenAIBackend:
    """A vision-language model behind an OpenAI-compatible ``/chat/completions`` endpoint.

    base_url: the API root, e.g. ``http://localhost:8000/v1`` (vLLM, SGLang) or
    ``http://localhost:8080/v1`` (TGI). model: the served model name. api_key_env: the environment
    variable holding the key (unset: no ``Authorization`` header). concurrency: requests in flight
    at once. timeout: seconds to wait for one answer. max_retries: further tries after a 429, 5xx,
    timeout or dropped connection. backoff: first wait in seconds, doubled per try, with jitter.
    generation: decoding options (greedy means ``temperature`` 0). box_convention: how this model
    writes boxes; required, because a server cannot tell us.

    >>> OpenAIBackend("http://localhost:8000/v1", "m", box_convention="pixel").name
    'openai'
    >>> OpenAIBackend("localhost:8000", "m", box_convention="pixel")
    Traceback (most recent call last):
    ...
    geocot_cli.errors.ConfigError: base URL 'localhost:8000' is not an http(s) URL; pass --base-url like http://localhost:8000/v1
    """

    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 4,
        timeout: float = 60.0,
        max_retries: int = 5,
        backoff: float = 0.5,
        generation: GenerationOptions = GenerationOptions(),
        box_convention: str,
    ) -> None:
        parts = urllib.parse.urlsplit(str(base_url).strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                f"base URL {base_url!r} is not an http(s) URL; pass --base-url like http://localhost:8000/v1"
            )
        root = urllib.parse.urlunsplit(parts._replace(query="", fragment="")).rstrip("/")
        if root.endswith("/chat/completions"):
            root = root[: -len("/chat/completions")]
        if not model or not str(model).strip():
            raise ConfigError("model name is empty; pass --model with the name the server serves")
        if not api_key_env or not str(api_key_env).strip():
            raise ConfigError("api_key_env is empty; pass --api-key-env with a variable name, e.g. OPENAI_API_KEY")
        if int(concurrency) < 1:
            raise ConfigError(f"concurrency ({concurrency}) must be >= 1; try --concurrency 4")
        if not timeout > 0:
            raise ConfigError(f"timeout ({timeout}) must be > 0 seconds; try --timeout 60")
        if int(max_retries) < 0:
            raise ConfigError(f"max_retries ({max_retries}) must be >= 0; try --max-retries 5")
        if not backoff >= 0:
            raise ConfigError(f"backoff ({backoff}) must be >= 0 seconds; try --backoff 0.5")
        self.box_convention = check_convention(box_convention)
        self.base_url = root
        self.url = root + "/chat/completions"
        self.model = str(model)
        self.api_key_env = str(api_key_env)
        self.concurrency = int(concurrency)
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.backoff = float(backoff)
        self.generation = generation
        # The URL as shown to people: any user:password@ part removed.
        shown = parts._replace(netloc=parts.netloc.rsplit("@", 1)[-1], query="", fragment="")
        self._shown_url = urllib.parse.urlunsplit(shown).rstrip("/")
        if not self._shown_url.endswith("/chat/completions"):
            self._shown_url += "/chat/completions"
        self._opener = urllib.request.build_opener()

    def __repr__(self) -> str:
        shown_root = self._shown_url[: -len("/chat/completions")]
        return (
            f"OpenAIBackend(base_url={shown_root!r}, model={self.model!r}, "
            f"box_convention={self.box_convention!r}, concurrency={self.concurrency}, "
            f"api_key_env={self.api_key_env!r})"
        )

    # -- public API -------------------------------------------------------------------------------

    def generate(self, images: Sequence[Image.Image], prompts: Sequence[str]) -> list[str]:
        """Answer ``prompts[i]`` about ``images[i]`` for every i; answers in input order.

        Raises :class:`BackendError` as soon as one request fails for good; requests not yet sent
        are dropped and those in flight make no further try.
        """
        if len(images) != len(prompts):
            raise ValueError(f"got {len(images)} images but {len(prompts)} prompts; pass one prompt per image")
        if not images:
            return []
        stop = threading.Event()
        pool = ThreadPoolExecutor(
            max_workers=min(self.concurrency, len(images)), thread_name_prefix="geocot-openai"
        )
        try:
            futures = [pool.submit(self._complete, image, prompt, stop) for image, prompt in zip(images, prompts)]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for future in futures:
                if future in done and future.exception() is not None:
                    future.result()  # re-raises the first failure
            return [future.result() for future in futures]
        finally:
            stop.set()
            pool.shutdown(wait=False, cancel_futures=True)

    def request_body(self, image: Image.Image, prompt: str) -> dict[str, Any]:
        """The JSON body sent for one tile (no secrets in it).

        >>> from PIL import Image
        >>> backend = OpenAIBackend("http://localhost:8000/v1", "m", box_convention="pixel")
        >>> body = backend.request_body(Image.new("RGB", (2, 2)), "How many ships?")
        >>> [part["type"] for part in body["messages"][0]["content"]], body["temperature"]
        (['image_url', 'text'], 0.0)
        """
        gen = self.generation
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": image_data_url(image)}},
                        {"type": "text", "text": prompt},
                    ],
                }
            ],
            "max_tokens": gen.max_new_tokens,
            "temperature": gen.temperature if gen.do_sample else 0.0,
            "n": 1,
            "stream": False,
        }
        if gen.do_sample and gen.top_p != 1.0:
            body["top_p"] = gen.top_p
        penalty = PAPER_REPETITION_PENALTY if gen.repetition_penalty is None else gen.repetition_penalty
        if penalty != 1.0:
            # Not in OpenAI's schema; vLLM and SGLang read it as an extra body field.
            body["repetition_penalty"] = penalty
        return body

    # -- one request ------------------------------------------------------------------------------

    def _complete(self, image: Image.Image, prompt: str, stop: threading.Event) -> str:
        if stop.is_set():
            raise _Cancelled
        data = json.dumps(self.request_body(image, prompt)).encode("utf-8")
        return self._post(data, stop)

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json", "User-Agent": "geocot"}
        key = os.environ.get(self.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def _redact(self, text: str) -> str:
        key = os.environ.get(self.api_key_env)
        return text.replace(key, "***") if key else text

    def _fail(self, message: str) -> BackendError:
        return BackendError(self._redact(message))

    def _post(self, data: bytes, stop: threading.Event) -> str:
        attempt = 0
        while True:
            if stop.is_set():
                raise _Cancelled
            request = urllib.request.Request(self.url, data=data, headers=self._headers(), method="POST")
            retry_after: float | None = None
            try:
                with self._opener.open(request, timeout=self.timeout) as response:
                    raw = response.read()
                return self._parse(raw)
            except urllib.error.HTTPError as exc:
                detail = _error_detail(exc)
                if exc.code != 429 and exc.code < 500:
                    raise self._fail(self._rejected(exc.code, detail)) from None
                retry_after = _retry_after(exc.headers)
                limit = self.max_retries
                final = (
                    f"model server at {self._shown_url} kept answering HTTP {exc.code}"
                    + (f" ({detail})" if detail else "")
                    + f" after {attempt + 1} tries; the server is overloaded or failing: "
                    "lower --concurrency, or retry later"
                )
                what = f"HTTP {exc.code}"
            except urllib.error.URLError as exc:
                # Raised while connecting or sending: the server never took the request.
                reason = exc.reason
                if isinstance(reason, TimeoutError):
                    limit = min(self.max_retries, UNREACHABLE_RETRIES)
                    final = (
                        f"model server at {self._shown_url} did not accept a connection within "
                        f"{self.timeout:g} s ({attempt + 1} tries); check --base-url and that the server is running"
                    )
                elif _unreachable(reason):
                    limit = min(self.max_retries, UNREACHABLE_RETRIES)
                    final = (
                        f"cannot reach the model server at {self._shown_url} ({_describe(reason)}); "
                        "check --base-url and that the server is running"
                    )
                elif isinstance(reason, (ConnectionError, http.client.HTTPException)):
                    limit = self.max_retries
                    final = (
                        f"model server at {self._shown_url} dropped the connection ({_describe(reason)}) "
                        f"after {attempt + 1} tries; check the server's log, or lower --concurrency"
                    )
                else:
                    raise self._fail(
                        f"cannot talk to the model server at {self._shown_url} ({_describe(reason)}); "
                        "check --base-url"
                    ) from exc
                what = _describe(reason)
            except TimeoutError:
                limit = self.max_retries
                final = (
                    f"model server at {self._shown_url} did not answer within {self.timeout:g} s "
                    f"({attempt + 1} tries); raise --timeout or lower --concurrency"
                )
                what = "timeout"
            except (ConnectionError, http.client.HTTPException) as exc:
                limit = self.max_retries
                final = (
                    f"model server at {self._shown_url} dropped the connection ({_describe(exc)}) "
                    f"after {attempt + 1} tries; check the server's log, or lower --concurrency"
                )
                what = _describe(exc)
            if attempt >= limit:
                raise self._fail(final)
            delay = retry_after if retry_after is not None else self._backoff_delay(attempt)
            delay = min(delay, MAX_WAIT)
            log.info("%s from %s; try %d of %d in %.2f s", what, self._shown_url, attempt + 2, limit + 1, delay)
            if stop.wait(delay):
                raise _Cancelled
            attempt += 1

    def _backoff_delay(self, attempt: int) -> float:
        """Exponential backoff with jitter: ``backoff * 2**attempt`` times a factor in [0.5, 1.5)."""
        return self.backoff * (2**attempt) * random.uniform(0.5, 1.5)

    def _rejected(self, status: int, detail: str) -> str:
        message = f"model server at {self._shown_url} rejected the request (HTTP {status})"
        if detail:
            message += f": {detail}"
        if status in (401, 403):
            message += f"; set a valid API key in the {self.api_key_env} environment variable (or --api-key-env)"
        elif status == 404:
            message += "; --base-url usually ends in /v1 and --model must name a model the server serves"
        return message

    def _parse(self, raw: bytes) -> str:
        try:
            payload = json.loads(raw)
        except ValueError:
            raise self._fail(
                f"model server at {self._shown_url} answered with something that is not JSON "
                f"({raw[:80]!r}); check that --base-url points at an OpenAI-compatible API"
            ) from None
        choices = payload.get("choices") if isinstance(payload, Mapping) else None
        if not choices or not isinstance(choices[0], Mapping):
            detail = _message_of(payload) if isinstance(payload, Mapping) else None
            raise self._fail(
                f"model server at {self._shown_url} answered without choices"
                + (f": {detail}" if detail else "")
                + "; check that --base-url points at an OpenAI-compatible chat completions API"
            )
        message = choices[0].get("message") or {}
        content = message.get("content")
        if isinstance(content, list):  # content parts
            content = "".join(
                str(part.get("text", "")) for part in content if isinstance(part, Mapping)
            )
        text = str(content) if content is not None else ""
        # vLLM / SGLang reasoning parsers move <think>...</think> into a separate field; put it back
        # so the Geo-CoT trace stays whole.
        reasoning = message.get("reasoning_content") or message.get("reasoning")
        if isinstance(reasoning, str) and reasoning and "<think>" not in text:
            text = f"<think>{reasoning}</think>{text}"
        return text


# -- helpers ----------------------------------------------------------------------------------------


def _unreachable(reason: object) -> bool:
    """Refused connection, unknown host name or no route: nobody is listening there."""
    if isinstance(reason, (ConnectionRefusedError, socket.gaierror)):
        return True
    return isinstance(reason, OSError) and reason.errno in _UNREACHABLE_ERRNOS


def _describe(reason: object) -> str:
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return f"host name not resolved: {reason.strerror or reason}"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    text = str(reason) or type(reason).__name__
    return text


def _message_of(payload: Mapping[str, Any]) -> str | None:
    """The human message in an error body: OpenAI/vLLM ``{"error": {"message"}}``, TGI ``{"error": str}``."""
    error = payload.get("error")
    if isinstance(error, Mapping):
        message = error.get("message")
    elif isinstance(error, str):
        message = error
    else:
        message = payload.get("message") or payload.get("detail")
    return str(message) if message else None


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        raw = exc.read()
    except (OSError, http.client.HTTPException):
        raw = b""
    text = (raw or b"").decode("utf-8", "replace").strip()
    try:
        payload = json.loads(text)
    except ValueError:
        return " ".join(text.split())[:300]
    message = _message_of(payload) if isinstance(payload, Mapping) else None
    return " ".join((message or text).split())[:500]


def _retry_after(headers: Any) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), or None."""
    value = headers.get("Retry-After") if headers is not None else None
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())
