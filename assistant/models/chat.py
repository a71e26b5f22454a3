"""Chat models behind one factory, chosen by a `provider:model` string.

`extractive` (no model at all; the answerer lives in `answer/extractive.py`),
`openai:<model>` (LangChain's ChatOpenAI, any OpenAI-compatible server: vLLM, Ollama,
llama.cpp's server), `llamacpp:<path.gguf>` (an in-process model, optional extra).
It builds clients and turns their failures into one line (`describe_error`); it does
not prompt them (that is `core.py` with `answer/prompts.py`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from ..base.config import Settings
from ..base.errors import ConfigError
from .providers import split_spec

CHAT_PROVIDERS = ("extractive", "openai", "llamacpp")


def make_chat_model(settings: Settings, spec: str | None = None) -> Any | None:
    """A LangChain chat model for `spec` (default: settings.llm_spec); None for extractive."""
    provider, model = split_spec(spec or settings.llm_spec, CHAT_PROVIDERS, "answerer")
    if provider == "extractive":
        return None
    if provider == "openai":
        from langchain_openai import ChatOpenAI

        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else ""
        if not key and not settings.openai_base_url:
            raise ConfigError("answerer 'openai:…' needs OPENAI_API_KEY (or OPENAI_BASE_URL)")
        return ChatOpenAI(
            model=model,
            api_key=SecretStr(key or "not-needed"),
            base_url=settings.openai_base_url,
            temperature=settings.temperature,
            timeout=settings.request_timeout,
            max_retries=settings.max_retries,
            streaming=True,
        )
    return _llamacpp(model, settings)


def _llamacpp(path: str, settings: Settings) -> Any:
    if not Path(path).is_file():
        raise ConfigError(f"answerer 'llamacpp:{path}': no such GGUF file")
    try:
        from llama_cpp import Llama
    except ImportError:
        raise ConfigError(
            "answerer 'llamacpp:…' needs the optional extra: pip install 'news-assistant[llamacpp]'"
        ) from None
    llama = Llama(model_path=path, n_ctx=4096, verbose=False)
    return _llamacpp_chat_class()(llama=llama, temperature=settings.temperature)


def _llamacpp_chat_class() -> Any:
    """A LangChain chat model over an in-process llama.cpp model (streaming)."""
    from langchain_core.language_models.chat_models import BaseChatModel
    from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
    from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

    roles = {"human": "user", "ai": "assistant", "system": "system"}

    class LlamaCppChat(BaseChatModel):
        llama: Any
        temperature: float = 0.0

        @property
        def _llm_type(self) -> str:
            return "llamacpp"

        def _messages(self, messages: list[BaseMessage]) -> list[dict[str, str]]:
            return [
                {"role": roles.get(m.type, "user"), "content": str(m.content)} for m in messages
            ]

        def _generate(
            self,
            messages: list[BaseMessage],
            stop: Any = None,
            run_manager: Any = None,
            **kwargs: Any,
        ) -> ChatResult:
            text = "".join(c.message.content for c in self._stream(messages, stop))  # type: ignore[misc]
            return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

        def _stream(
            self,
            messages: list[BaseMessage],
            stop: Any = None,
            run_manager: Any = None,
            **kwargs: Any,
        ) -> Iterator[ChatGenerationChunk]:
            for part in self.llama.create_chat_completion(
                messages=self._messages(messages),
                temperature=self.temperature,
                stream=True,
                stop=stop,
                max_tokens=512,
            ):
                delta = part["choices"][0]["delta"].get("content") or ""
                if delta:
                    yield ChatGenerationChunk(message=AIMessageChunk(content=delta))

    return LlamaCppChat
