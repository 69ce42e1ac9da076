"""A synthetic content platform: users, creators, items, advertisers, ads and their history.

Public data has no creators, ads and user groups together, so ecorec generates a platform from
a documented generative model (``docs/synthetic-platform.md``): deterministic for a seed and
streamed in chunks so that memory stays bounded from a test platform to 1M users x 1M items.

Example:
    >>> from ecorec.data.synthetic import PlatformSpec, iter_event_tables
    >>> spec = PlatformSpec(users=20, items=50, creators=5, advertisers=1, days=1, seed=7)
    >>> tables = list(iter_event_tables(spec))
    >>> tables[0].column_names[:4]
    ['event_id', 'ts', 'user_id', 'type']

"""

from ecorec.data.synthetic.history import iter_block_days, iter_event_tables
from ecorec.data.synthetic.ids import id_formats
from ecorec.data.synthetic.population import (
    advertisers_and_ads,
    iter_creators,
    iter_entities,
    iter_items,
    iter_users,
)
from ecorec.data.synthetic.spec import (
    DEFAULT_START,
    DEFAULT_TOPICS,
    PlatformSpec,
    PopulationParams,
    ResponseParams,
)
from ecorec.data.synthetic.writer import GenerationStats, progress_total, write_platform

__all__ = [
    "DEFAULT_START",
    "DEFAULT_TOPICS",
    "GenerationStats",
    "PlatformSpec",
    "PopulationParams",
    "ResponseParams",
    "advertisers_and_ads",
    "id_formats",
    "iter_block_days",
    "iter_creators",
    "iter_entities",
    "iter_event_tables",
    "iter_items",
    "iter_users",
    "progress_total",
    "write_platform",
]
