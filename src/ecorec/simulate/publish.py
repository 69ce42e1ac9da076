"""New items from simulated creators, drawn like the synthetic platform's items.

The equations are those of ``docs/synthetic-platform.md`` §2: the main topic is the creator's
focus with probability ``focus_share``, else drawn by topic popularity; two secondary topics by
popularity; the main weight ``~ Beta(6, 2)`` and the rest split uniformly; quality
``clip(q_creator + N(0, 0.1), 0, 1)``; duration ``LN(ln 45 s, 0.9)`` clipped to [5 s, 3600 s].
"""

from __future__ import annotations

import numpy as np

from ecorec.core.entities import Item
from ecorec.data.synthetic.latents import topic_popularity
from ecorec.simulate.creators import CreatorAgents
from ecorec.simulate.environment import World

DAY = 86_400.0


def publish(
    creators: CreatorAgents, world: World, rng: np.random.Generator, day_start: float, prefix: str
) -> list[Item]:
    """Today's items of every live creator, ``created_at`` spread over the day.

    Ids are ``{prefix}-{n:05d}``; each item's ``attrs`` carries its topic mixture and
    ``simulated: true``.
    """
    counts = creators.to_publish(rng)
    total = int(counts.sum())
    if total == 0:
        return []
    spec = world.spec
    names = world.topics
    p = spec.population
    base = len(spec.topics)
    popular = np.zeros(len(names))
    popular[:base] = topic_popularity(spec.model_copy(update={"topics": spec.topics[:base]}))
    popular /= popular.sum()
    owner = np.repeat(np.arange(len(creators)), counts)
    main = np.where(
        rng.random(total) < p.focus_share,
        creators.focus[owner],
        rng.choice(len(names), size=total, p=popular),
    )
    topics = np.stack([main, *rng.choice(len(names), size=(2, total), p=popular)], axis=1)
    w_main = rng.beta(6.0, 2.0, total)
    split = rng.random(total)
    weights = np.stack([w_main, (1 - w_main) * split, (1 - w_main) * (1 - split)], axis=1)
    quality = np.clip(creators.quality[owner] + rng.normal(0.0, 0.1, total), 0.0, 1.0)
    duration = np.clip(
        rng.lognormal(np.log(p.duration_median), p.duration_sigma, total), 5.0, 3600.0
    )
    created = day_start + np.sort(rng.random(total)) * DAY
    items = []
    for n in range(total):
        mixture: dict[str, float] = {}
        for t, w in zip(topics[n].tolist(), weights[n].tolist(), strict=True):
            mixture[names[t]] = round(mixture.get(names[t], 0.0) + w, 3)
        tags = tuple(dict.fromkeys(names[t] for t in topics[n, 1:].tolist() if t != topics[n, 0]))
        items.append(
            Item(
                f"{prefix}-{n:05d}",
                creator_id=creators.ids[int(owner[n])],
                category=names[int(topics[n, 0])],
                tags=tags,
                quality=round(float(quality[n]), 4),
                duration=round(float(duration[n]), 1),
                created_at=float(created[n]),
                attrs={"topics": mixture, "simulated": True},
            )
        )
    creators.published += total
    return items
