"""Ranking features: one schema, built offline from logs and online from a profile."""

from ecorec.features.schema import OOV, PAD, Batch, Field, FieldKind, Schema, TensorTable

__all__ = ["OOV", "PAD", "Batch", "Field", "FieldKind", "Schema", "TensorTable"]
