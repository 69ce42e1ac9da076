"""Named blocks the ranking models are built from.

Embedding, MLP, FM, attention, interest and expert blocks; each model in
:mod:`ecorec.ranking.models` composes them like its paper's diagram.
"""

from ecorec.ranking.modules.attention import LocalActivationUnit, TargetAttention, masked_softmax
from ecorec.ranking.modules.embedding import Embedded, SchemaEmbedding
from ecorec.ranking.modules.experts import Experts, Gates, mix
from ecorec.ranking.modules.fm import FactorizationMachine
from ecorec.ranking.modules.interest import AUGRU, InterestEvolution, InterestExtractor
from ecorec.ranking.modules.mlp import MLP, Heads, Tower

__all__ = [
    "AUGRU",
    "MLP",
    "Embedded",
    "Experts",
    "FactorizationMachine",
    "Gates",
    "Heads",
    "InterestEvolution",
    "InterestExtractor",
    "LocalActivationUnit",
    "SchemaEmbedding",
    "TargetAttention",
    "Tower",
    "masked_softmax",
    "mix",
]
