"""The contract every pipeline stage shares.

A component is a small callable with a typed pydantic ``config``. Constructors only store;
trainable components learn in ``train`` and fail fast with :class:`NotTrainedError` when
called before it (the scikit-learn ``check_is_fitted`` habit). Trained state is saved to and
loaded from a folder as arrays and JSON, never pickle.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from ecorec.core.contracts import Candidate, Request
    from ecorec.core.profile import Profile


class NotTrainedError(RuntimeError):
    """A trainable component was used before ``train`` (or ``load``)."""

    def __init__(self, component: object) -> None:
        name = getattr(component, "name", type(component).__name__)
        super().__init__(f"{name} is not trained: run `ecorec train` or call train() first")


class ComponentConfig(BaseModel):
    """Base of every component config: unknown keys are errors, values are validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Component:
    """Base class: stores a validated config and a name.

    Subclasses set ``Config`` to their own :class:`ComponentConfig` subclass and ``name`` to the
    key used in TOML (``popular``, ``item_cf``...).
    """

    name: ClassVar[str] = "component"
    Config: ClassVar[type[ComponentConfig]] = ComponentConfig

    def __init__(self, config: ComponentConfig | dict[str, Any] | None = None) -> None:
        if config is None:
            config = self.Config()
        elif isinstance(config, dict):
            config = self.Config.model_validate(config)
        self.config = config

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"


@runtime_checkable
class Trainable(Protocol):
    """What ``ecorec train`` needs from a component."""

    name: ClassVar[str]

    def train(self, data: Any, options: dict[str, Any] | None = None) -> None: ...

    def is_trained(self) -> bool: ...

    def save(self, folder: Path) -> dict[str, Any]:
        """Write the trained state into ``folder``; return metrics for the manifest."""
        ...

    def load(self, folder: Path) -> None: ...


class RecallChannel(Protocol):
    """``__call__(request, profile) -> candidates``; channels never see each other."""

    name: ClassVar[str]

    def __call__(self, request: Request, profile: Profile) -> list[Candidate]: ...


class Ranker(Protocol):
    """Adds ``predictions`` and a fused ``score`` to candidates, best first."""

    name: ClassVar[str]

    def __call__(
        self, request: Request, profile: Profile, candidates: list[Candidate]
    ) -> list[Candidate]: ...


class Reranker(Protocol):
    """Re-orders (and may inject into) a ranked list; composable in order."""

    name: ClassVar[str]

    def __call__(
        self, request: Request, profile: Profile, ranked: list[Candidate]
    ) -> list[Candidate]: ...
