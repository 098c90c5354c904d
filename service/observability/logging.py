"""structlog JSON logs, one shape for the relay's own lines and its libraries' lines.

Every line, structlog's or a stdlib logger's (aiokafka, httpx), goes through the same
`ProcessorFormatter` chain: context variables (event id, topic, partition, offset, bound
per record in `service.pipeline.handle`), level, logger, a UTC ISO timestamp, then the
guards, last before rendering so nothing added later escapes them. The guards are the
contract's scrubber (`service.contract.masking`), applied to every part of a line:

- values under secret-looking keys become `[REDACTED]`, at any depth;
- the configured secret values themselves (API keys, JWT) are cut out of any text;
- every phone-number-like run of digits is masked (`23355****343`), in strings, in keys,
  in large integers and in the repr of anything else.

What this module adds is speed: every line passes here, and its keys and most of its
values recur line after line, so each is scrubbed once and remembered. The relay's own
lines skip stdlib `logging` (a LogRecord and a second processor chain per line): they are
scrubbed and rendered by the same guards and written whole to the same stream.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any, TextIO

import orjson
import structlog

from service.contract.masking import REDACTED, SecretValues, is_secret_key, mask_json, scrub_text

# Integers under these keys are positions and counts the relay itself logs; Kafka offsets
# pass 100,000,000 on busy partitions and would otherwise be masked as if they were numbers.
COUNTER_KEYS = frozenset(
    {"offset", "partition", "pushr_message_id", "attempts", "batch_index", "batch_count",
     "abandoned", "http_status", "status_code", "recipients_count", "pid", "port"}
)  # fmt: skip
# In `configure_logging`'s chain, written by its own processors (add_log_level,
# TimeStamper), which overwrite whatever a caller passed under these keys: a level name and
# an ISO time, nothing to mask. A Scrubber used elsewhere scrubs them like any other key.
CONSTRUCTED_KEYS = frozenset({"level", "timestamp"})
# A line's keys come from code, so few distinct ones; the bound only caps odd callers.
MAX_CACHED_KEYS = 1024
# Most values recur line after line (topic, logger, outcome, event name): scrub each once.
MAX_CACHED_TEXTS = 1024
MAX_CACHED_CHARS = 64
# Integers inside these bounds have fewer than 9 digits: no phone number (see mask_json).
_SMALL_INT = 100_000_000


class Scrubber:
    """The structlog processor guarding every line (see the module docstring)."""

    def __init__(
        self, secrets: Iterable[str] = (), constructed: frozenset[str] = frozenset()
    ) -> None:
        # Keys whose string values the chain before this processor wrote itself.
        self._constructed = constructed
        self._secrets = SecretValues(secrets)
        self._secret_keys: dict[str, bool] = {}
        self._texts: dict[str, str] = {}

    def text(self, value: str) -> str:
        if len(value) > MAX_CACHED_CHARS:
            return scrub_text(value, self._secrets)
        known = self._texts.get(value)
        if known is None:
            if len(self._texts) >= MAX_CACHED_TEXTS:
                self._texts.clear()  # event ids fill it; the values that recur come back
            known = self._texts[value] = scrub_text(value, self._secrets)
        return known

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if value is None or isinstance(value, bool | float):
            return value
        if isinstance(value, int):
            if -_SMALL_INT < value < _SMALL_INT:
                return value
            return mask_json(value)  # a number sent as a JSON integer is still a number
        if isinstance(value, Mapping):
            return {self.text(str(k)): self.entry(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self.value(v) for v in value]
        # the renderer would fall back to repr(), which can hold anything: scrub it here
        return self.text(repr(value))

    def _is_secret_key(self, key: str) -> bool:
        known = self._secret_keys.get(key)
        if known is None:
            known = is_secret_key(key)
            if len(self._secret_keys) < MAX_CACHED_KEYS:
                self._secret_keys[key] = known
        return known

    def entry(self, key: str, value: Any) -> Any:
        if self._is_secret_key(key):
            return REDACTED
        if key in COUNTER_KEYS and type(value) is int:
            return value
        return self.value(value)

    def __call__(
        self, _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key in list(event_dict):
            if key in self._constructed and type(event_dict[key]) is str:
                continue
            event_dict[key] = self.entry(key, event_dict[key])
        return event_dict


_DEFAULT_SCRUBBER = Scrubber()


def scrub_event(
    logger: Any, method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """Drop secrets by key and mask phone numbers in every value (no configured secrets)."""
    return _DEFAULT_SCRUBBER(logger, method, event_dict)


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
    ]


def _dumps(event_dict: Any, **_options: Any) -> str:
    try:
        return orjson.dumps(event_dict).decode()
    except TypeError:  # an integer beyond 64 bits: json renders it
        return json.dumps(event_dict)


class _Output:
    """Where the relay's own lines go and the guards they pass last, replaced by each
    `configure_logging`: structlog caches loggers and chains on first use, so both look
    here for every line rather than keeping what was configured when they were made."""

    def __init__(self) -> None:
        self.stream: TextIO | None = None  # None: sys.stderr as it is at each line
        self.scrubber = Scrubber(constructed=CONSTRUCTED_KEYS)
        self.renderer = structlog.processors.JSONRenderer(serializer=_dumps)

    def render(self, logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> str:
        return str(self.renderer(logger, method, self.scrubber(logger, method, event_dict)))


_OUTPUT = _Output()


def _guard_and_render(logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> str:
    return _OUTPUT.render(logger, method, event_dict)


class _LineLogger:
    """structlog's final logger: one write per line, flushed, like a stdlib StreamHandler."""

    def __init__(self, name: str) -> None:
        self.name = name

    def msg(self, line: str) -> None:
        stream = _OUTPUT.stream or sys.stderr
        try:
            stream.write(line + "\n")
            stream.flush()
        except (OSError, ValueError):  # a closed stream: dropped, as logging's handler does
            return

    debug = info = warning = error = critical = exception = msg


def _line_logger(name: str = "", *_args: Any) -> _LineLogger:
    return _LineLogger(name)


def configure_logging(
    level: str = "INFO", stream: TextIO | None = None, secrets: Iterable[str] = ()
) -> None:
    """JSON lines on `stream` (stderr by default) for structlog and stdlib loggers alike;
    `secrets` are values never to print (the configured keys and token)."""
    _OUTPUT.stream = stream
    _OUTPUT.scrubber = Scrubber(secrets, constructed=CONSTRUCTED_KEYS)
    renderer = structlog.processors.JSONRenderer()
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            Scrubber(secrets, constructed=CONSTRUCTED_KEYS),
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiokafka logs every reconnect at INFO; keep its warnings and errors only
    logging.getLogger("aiokafka").setLevel(max(logging.WARNING, root.level))
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))

    structlog.configure(
        processors=[
            *_shared_processors(),
            _guard_and_render,
        ],
        logger_factory=_line_logger,
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> Any:
    return structlog.get_logger(name)
