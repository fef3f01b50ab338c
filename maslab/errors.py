"""The error hierarchy: everything maslab raises on purpose is a `MaslabError`; `clip` keeps the values
quoted in messages short."""

from __future__ import annotations

SHOWN_CHARS = 200  # of a value quoted in an error message


def clip(text: str, limit: int = SHOWN_CHARS) -> str:
    """`text` cut to `limit` characters, saying how much was left out (a 1 MB value is not echoed whole)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more characters]"


class MaslabError(Exception):
    """Base class of every error maslab raises deliberately."""


class ConfigError(MaslabError):
    """A models file, workflow, sweep or method configuration is invalid."""


class DatabaseFileError(ConfigError):
    """A SQLite file (completion cache, result store) cannot be opened, read or written; the message
    names the file and says what to do."""


class BusyError(ConfigError):
    """Another process holds a resource this one needs exclusively (a sweep's output folder)."""


class UnknownAliasError(ConfigError):
    """A model alias is not defined in the models file."""


class UnknownMethodError(ConfigError):
    """A method name is not registered."""


class RunawayGraphError(MaslabError):
    """A system's graph took more steps than its recursion limit without finishing."""


class ModelCallError(MaslabError):
    """A model call failed; the message names the alias and endpoint, never a key."""

    def __init__(self, message: str, *, alias: str = "", endpoint: str = "", transient: bool = False):
        super().__init__(message)
        self.alias = alias
        self.endpoint = endpoint
        self.transient = transient


class ModelTimeoutError(ModelCallError):
    """A model call did not answer within its timeout (after retries)."""


class BadResponseError(ModelCallError):
    """A server answered with something that is not a valid chat completion."""


class CacheMissError(MaslabError):
    """Replay-only cache mode found no stored completion for a request."""


class ServeError(MaslabError):
    """A local model server could not be started or did not become healthy."""


class ToolError(MaslabError):
    """A tool is misdefined or unknown (bad *calls* are returned to the model, not raised)."""


class ImageError(ConfigError):
    """An image cannot be read, or is sent to a model alias that does not accept images."""
