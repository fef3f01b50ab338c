"""The error hierarchy: everything maslab raises on purpose is a `MaslabError`."""

from __future__ import annotations


class MaslabError(Exception):
    """Base class of every error maslab raises deliberately."""


class ConfigError(MaslabError):
    """A models file, workflow, sweep or method configuration is invalid."""


class UnknownAliasError(ConfigError):
    """A model alias is not defined in the models file."""


class UnknownMethodError(ConfigError):
    """A method name is not registered."""


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
