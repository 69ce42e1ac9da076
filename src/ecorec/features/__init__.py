"""Ranking features: one schema, built offline from logs and online from a profile."""

from ecorec.features.ctr import CTRSplit, build_ctr_split
from ecorec.features.schema import OOV, PAD, Batch, Field, FieldKind, Schema, TensorTable
from ecorec.features.vocab import Vocabulary

__all__ = [
    "OOV",
    "PAD",
    "Batch",
    "CTRSplit",
    "Field",
    "FieldKind",
    "Schema",
    "TensorTable",
    "Vocabulary",
    "build_ctr_split",
]
