"""Item metadata as vectors: TF-IDF over category, tags, title and text ``attrs``, then SVD.

Content-based recall and explore's clusters both need one vector per item that does not depend
on interactions (so a brand-new item has one). The fitted state is plain arrays (vocabulary,
idf, SVD components) rather than a pickled scikit-learn object, and a request turns words (a
survey's "music", an interest category) into the same space with a few array rows: no
scikit-learn call at request time.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

from ecorec.core.entities import Item

#: Words of one letter count too ("a" genre code, "x" tag): any run of word characters.
TOKEN_PATTERN = r"(?u)\b\w+\b"
#: The category is the strongest signal of an item's topic: repeated so it outweighs tags.
CATEGORY_REPEAT = 2


def document(item: Item) -> str:
    """The text an item is vectorised from: category (twice), tags, title, text ``attrs``."""
    parts: list[str] = [item.category] * CATEGORY_REPEAT if item.category else []
    parts += list(item.tags)
    if item.title:
        parts.append(item.title)
    for value in item.attrs.values():
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            parts += list(value)
    return " ".join(parts)


def analyzer() -> TfidfVectorizer:
    """The unfitted vectorizer whose analyzer every fit and every request shares."""
    return TfidfVectorizer(token_pattern=TOKEN_PATTERN, sublinear_tf=True)


def token_counts(items: Sequence[Item]) -> sp.csr_matrix:
    """Items x words count matrix (for LDA topics)."""
    matrix: sp.csr_matrix = CountVectorizer(token_pattern=TOKEN_PATTERN).fit_transform(
        [document(i) for i in items]
    )
    return matrix


class ItemText:
    """The fitted TF-IDF (+ SVD) space of item metadata.

    Args:
        vocabulary: words, in column order.
        idf: inverse document frequency per word.
        components: ``(dim, words)`` SVD projection, or None to keep the TF-IDF columns.

    Example:
        >>> items = [Item("a", category="music"), Item("b", category="news", tags=("music",))]
        >>> text, vectors = ItemText.fit(items, dim=0)
        >>> float(np.round(text.query([("music", 1.0)]) @ vectors[0], 3))
        1.0

    """

    def __init__(
        self, vocabulary: Sequence[str], idf: np.ndarray, components: np.ndarray | None
    ) -> None:
        self.vocabulary = list(vocabulary)
        self.column = {word: k for k, word in enumerate(self.vocabulary)}
        self.idf = idf
        self.components = components
        self._analyze = analyzer().build_analyzer()

    @property
    def dim(self) -> int:
        return len(self.vocabulary) if self.components is None else int(self.components.shape[0])

    @classmethod
    def fit(
        cls, items: Sequence[Item], dim: int = 64, seed: int = 0
    ) -> tuple[ItemText, np.ndarray]:
        """Fit on ``items``' documents; return the space and the unit item vectors (float32).

        ``dim`` > 0 reduces to that many SVD dimensions when the vocabulary is larger;
        otherwise the TF-IDF columns are kept (exact, and small for category/tag metadata).
        Items without any metadata get a zero vector.

        Raises:
            ValueError: when no item has any metadata word.

        """
        vectorizer = analyzer()
        try:
            matrix = vectorizer.fit_transform([document(i) for i in items])
        except ValueError:  # scikit-learn's "empty vocabulary"
            raise ValueError(
                "items have no metadata (category, tags, title or text attrs) to vectorise"
            ) from None
        words = vectorizer.get_feature_names_out().tolist()
        components = None
        if 0 < dim < len(words) and len(items) > dim:
            svd = TruncatedSVD(n_components=dim, random_state=seed)
            dense = svd.fit_transform(matrix)
            components = svd.components_.astype(np.float32)
        else:
            dense = matrix.toarray()
        return cls(words, vectorizer.idf_.astype(np.float32), components), _unit(dense)

    def query(self, texts: Iterable[tuple[str, float]]) -> np.ndarray:
        """The unit vector of weighted texts (each TF-IDF-normalised as an item would be).

        Unknown words are ignored; nothing known gives the zero vector.
        """
        sparse = np.zeros(len(self.vocabulary), dtype=np.float32)
        for text, weight in texts:
            counts = Counter(w for w in self._analyze(text) if w in self.column)
            if not counts or weight <= 0:
                continue
            cols = np.fromiter((self.column[w] for w in counts), np.int64, len(counts))
            tf = np.fromiter((1.0 + math.log(c) for c in counts.values()), np.float32)
            values = tf * self.idf[cols]
            sparse[cols] += weight * values / np.linalg.norm(values)
        dense = sparse if self.components is None else self.components @ sparse
        vector: np.ndarray = _unit(dense.reshape(1, -1))[0]
        return vector

    def save(self, folder: Path, prefix: str = "text") -> None:
        (folder / f"{prefix}_vocabulary.json").write_text(json.dumps(self.vocabulary))
        np.save(folder / f"{prefix}_idf.npy", self.idf, allow_pickle=False)
        if self.components is not None:
            np.save(folder / f"{prefix}_components.npy", self.components, allow_pickle=False)

    @classmethod
    def load(cls, folder: Path, prefix: str = "text") -> ItemText:
        vocabulary = json.loads((folder / f"{prefix}_vocabulary.json").read_text())
        idf = np.load(folder / f"{prefix}_idf.npy", allow_pickle=False)
        path = folder / f"{prefix}_components.npy"
        components = np.load(path, allow_pickle=False) if path.exists() else None
        return cls(vocabulary, idf, components)


def _unit(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    out: np.ndarray = np.divide(rows, norms, out=np.zeros_like(rows), where=norms > 0)
    return out
