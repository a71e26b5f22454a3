"""`provider:model` strings and provider failures, shared by the model factories.

`split_spec` checks a backend name and lists the valid choices; `describe_error` turns an
SDK's failure into one line that never carries the API key.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..base.errors import ConfigError


def split_spec(spec: str, valid: Sequence[str], kind: str) -> tuple[str, str]:
    """'provider:model' -> (provider, model), with an error listing the valid providers."""
    provider, _, model = spec.partition(":")
    provider = provider.strip().lower()
    if provider not in valid:
        choices = ", ".join(f"{p}:<model>" if p != "extractive" else p for p in valid)
        raise ConfigError(f"unknown {kind} '{spec}': choose one of {choices}")
    if provider != "extractive" and not model.strip():
        raise ConfigError(f"{kind} '{spec}' names no model: write {provider}:<model>")
    return provider, model.strip()


def describe_error(exc: BaseException) -> str:
    """One line for a provider failure, with the API key never included."""
    name = type(exc).__name__
    # LangChain wraps the SDK's errors in subclasses: match on the whole hierarchy.
    names = {cls.__name__ for cls in type(exc).__mro__}
    status = getattr(exc, "status_code", None)
    # Timeout first: the SDK's timeout error is a subclass of its connection error.
    if names & {"APITimeoutError", "TimeoutException", "ReadTimeout", "TimeoutError"}:
        return "the model server did not answer in time (ASSISTANT_REQUEST_TIMEOUT)"
    if names & {"APIConnectionError", "ConnectError", "ConnectionError"}:
        return "cannot reach the model server (is it running? check OPENAI_BASE_URL)"
    if status == 401 or name == "AuthenticationError":
        return "the model server rejected the API key (HTTP 401): check OPENAI_API_KEY"
    if status == 429 or name == "RateLimitError":
        return "the model server is rate-limiting requests (HTTP 429): retry later"
    if status == 404 or name == "NotFoundError":
        return "the model server does not know this model (HTTP 404): check ASSISTANT_LLM"
    if status:
        return f"the model server answered HTTP {status}"
    return f"{name}"
