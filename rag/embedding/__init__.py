"""The embedding model: the packaged all-MiniLM-L6-v2 (or EMBED_MODEL), on ONNX Runtime int8
by default, exported offline from the local model at `make install` (or on first use).

The ONNX backends run on onnxruntime, the model's own `tokenizer.json` (tokenizers) and numpy:
torch, transformers and sentence-transformers load only to export a model and for
EMBED_BACKEND=torch, since importing them takes seconds and hundreds of megabytes.

With EMBED_URL the vectors come from an OpenAI-compatible `/embeddings` (llmserver's, which
runs this same code), so a deployment loads the model once; the tokenizer stays here, since
chunking measures every chunk with it."""

from rag.embedding.config import DEFAULT_MODEL_NAME, model_identity, packaged_model_path
from rag.embedding.embedder import Embedder
from rag.embedding.onnx_model import OnnxModel
from rag.embedding.remote_model import RemoteModel
from rag.embedding.tokenizer import load_tokenizer
from rag.embedding.torch_model import TorchModel
from rag.errors import EmbeddingError

__all__ = [
    "DEFAULT_MODEL_NAME", "Embedder", "EmbeddingError", "OnnxModel", "RemoteModel",
    "TorchModel", "load_tokenizer", "model_identity", "packaged_model_path",
]
