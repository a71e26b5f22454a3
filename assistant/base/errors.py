"""The error hierarchy raised by the core.

Every failure a user can cause or meet (bad settings, a store that is down, a
model server that refuses) is one of these, with a message that already reads
as one line for a person. Front ends catch `AssistantError` once and print its
message; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class AssistantError(Exception):
    """Base class: `str(error)` is a complete one-line message for the user."""


class ConfigError(AssistantError):
    """A setting is invalid or names an unknown backend."""


class StoreError(AssistantError):
    """The vector store cannot be reached or answered with an error."""


class IngestError(AssistantError):
    """One input could not be read or indexed (the batch goes on without it)."""


class PromptError(AssistantError):
    """A prompt file is missing or does not use the variables the code fills in."""


class ModelError(AssistantError):
    """The language or embedding model failed (server down, refused, timed out)."""
