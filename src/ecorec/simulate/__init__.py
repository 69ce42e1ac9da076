"""The ecosystem simulator: users, creators and advertisers living on the real Pipeline.

``ecorec simulate`` runs :class:`Simulation`; see ``docs`` of each module for the agents'
equations (:mod:`.users`, :mod:`.creators`, :mod:`.advertisers`), the response model
(:mod:`.environment`, the synthetic platform's), policy files (:mod:`.policies`) and the
ML-100k check of the response model (:mod:`.validation`).
"""

from __future__ import annotations

from ecorec.simulate.config import SimConfig
from ecorec.simulate.policies import Policy, assign_arms, load_policy
from ecorec.simulate.runner import Simulation

__all__ = ["Policy", "SimConfig", "Simulation", "assign_arms", "load_policy"]
