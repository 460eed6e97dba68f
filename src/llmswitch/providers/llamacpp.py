"""llama.cpp's ``llama-server``: OpenAI Chat Completions under ``/v1`` plus its own ``/health``.

Differences from a generic compatible server that matter here (``reference/wire-protocols.md`` §2):
``/health`` answers 503 "Loading model" while the model loads (so does every other route but
``/v1/models``), the served model name is the ``--alias`` (or the file name) and the echoed
``model`` of a completion is not to be trusted, ``/health`` and ``/v1/models`` are public even on
``--api-key`` servers (so health also reads ``/props`` to learn whether our key works), and
responses carry ``timings`` (read by the shared wire module into ``tokens_per_second``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .. import errors as E
from ..types import ModelInfo, ProviderCapabilities, ProviderHealthStatus, ProviderType
from .openai_compat import OpenAICompatibleProvider

if TYPE_CHECKING:  # pragma: no cover
    from ..management.llamacpp import LlamaCppClient

__all__ = ["LlamaCppProvider"]


def _local_runtime_url() -> str | None:
    """The bundled runtime's URL if its state file names a live server (cheap: a file read)."""
    try:
        from ..local import read_state

        st = read_state(cleanup=False)
    except Exception:  # a broken state dir must never break building a provider
        return None
    return st.url if st is not None else None


class LlamaCppProvider(OpenAICompatibleProvider):
    """llama.cpp's ``llama-server``: 503 while the model loads, the model served under its ``--alias``,
    and the bundled runtime's address when no base URL is given and one is running."""

    provider_type = ProviderType.LLAMACPP
    default_base_url = "http://localhost:8080/v1"
    api_key_env = "LLAMACPP_API_KEY"
    base_url_env = "LLAMACPP_BASE_URL"
    is_local = True
    auto_rank = 3
    default_capabilities = ProviderCapabilities(tools=True, json_mode=True, local=True)
    """Images need a multimodal projector (``--mmproj``) and thinking a reasoning model: unknown
    here, so allowed; ``set_model_capabilities`` records what a given server lacks."""
    start_hint = (
        "start llama-server, or the bundled one with `llmswitch local start` "
        "(after `pip install 'llmswitch[local]'`), or set LLAMACPP_BASE_URL"
    )
    keepalive_timeout = 4.0
    """llama-server (cpp-httplib) closes a keep-alive connection idle for 5 s; drop ours first, so
    a POST is never written to a connection the server is closing (it would not be resent)."""

    def __init__(self, *, base_url: str | None = None, **kwargs: Any) -> None:
        if base_url is None and not os.environ.get(self.base_url_env or ""):
            base_url = _local_runtime_url()
        super().__init__(base_url=base_url, **kwargs)

    @property
    def server_root(self) -> str:
        """Where ``/health``, ``/props``, ``/slots`` and ``/metrics`` live (the base URL minus ``/v1``)."""
        from ..management.llamacpp import server_root

        return server_root(self.base_url)

    def management(self) -> LlamaCppClient:
        """A :class:`~llmswitch.management.llamacpp.LlamaCppClient` for the same server and key."""
        from ..management.llamacpp import LlamaCppClient

        return LlamaCppClient(self.server_root, api_key=self.api_key)

    def _model_info(self, m: dict[str, Any]) -> ModelInfo:
        from ..management.llamacpp import model_info_from_wire

        return model_info_from_wire(m, provider=self.name)

    def _record_modalities(self, props: dict[str, Any], ids: list[str]) -> None:
        """``/props`` says whether this server takes images (``modalities.vision``: a multimodal
        projector is loaded); recorded for its models, so images to a server without one are
        refused before sending rather than answered with a 500 (``reference/wire-protocols.md`` §2)."""
        modalities = props.get("modalities")
        vision = modalities.get("vision") if isinstance(modalities, dict) else None
        if isinstance(vision, bool):
            caps = ProviderCapabilities(vision=vision)
            for name in {*ids, *([self.default_model] if self.default_model else [])}:
                self.set_model_capabilities(name, caps)

    async def _probe_health(self, status: ProviderHealthStatus) -> None:
        """``/health`` first (ok / 503 loading / refused), then the model from ``/v1/models``,
        then ``/props`` for context and slots. Servers started with ``--api-key`` guard
        ``/props`` (and, in newer builds, ``/v1/models``), so a rejected key shows up here as
        ``metadata["status"] == "unauthorized"`` rather than on the first completion."""
        t = self.transport
        root = self.server_root
        try:
            body = await t.get_json(root + "/health")
            status.metadata["status"] = (body or {}).get("status", "ok") if isinstance(body, dict) else "ok"
        except E.ProviderUnavailableError as exc:
            if exc.status_code != 503:
                raise
            status.metadata["status"] = "loading"
            status.error = (
                f"llama-server at {root} is still loading its model (HTTP 503 {exc.message!r}); retry in a few seconds"
            )
            return
        except E.InvalidRequestError as exc:  # 404: a compatible server without /health
            if exc.status_code != 404:
                raise
            status.metadata["status"] = "no /health"
        status.connected = True
        models = await self.list_models()
        ids = [m.id for m in models]
        status.metadata["models"] = len(ids)
        if self.default_model and ids and self.default_model not in ids:
            status.metadata["served_model"] = ids[0]  # still report a mismatch
        # a single-model llama-server answers to any model name, so the configured one counts as found
        self._settle_model(
            status, self.default_model, ids[0] if ids else None, missing="", empty="the server is up but offers no model"
        )
        try:
            props = await t.get_json(root + "/props")
        except E.AuthenticationError:
            raise
        except E.ProviderError:
            props = None  # not every build or proxy serves /props; health does not depend on it
        if isinstance(props, dict):
            self._record_modalities(props, ids)
            gen = props.get("default_generation_settings") or {}
            for key, value in (
                ("n_ctx", gen.get("n_ctx")),
                ("total_slots", props.get("total_slots")),
                ("build", props.get("build_info")),
                ("model_path", props.get("model_path")),
            ):
                if value is not None:
                    status.metadata[key] = value
