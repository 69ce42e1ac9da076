"""A small lexicon scorer for comment sentiment: no model, no download, fully inspectable.

A comment scores ``(positive words - negative words) / sentiment words`` in [-1, 1] (0 when it
has none); a negator (``not``, ``never``, ``no``...) flips the next sentiment word within two
tokens, and ``not sure`` style hedges count as negative. It is a coarse signal meant for
trends in a health report, not for judging a single comment; a platform with a trained
sentiment model should swap this for it.

Example:
    >>> comment_score("love this"), comment_score("not good at all"), comment_score("first!")
    (1.0, -1.0, 0.0)

"""

from __future__ import annotations

import re

POSITIVE = frozenset(
    {
        "agree",
        "amazing",
        "awesome",
        "beautiful",
        "best",
        "brilliant",
        "cool",
        "enjoy",
        "enjoyed",
        "excellent",
        "fantastic",
        "favorite",
        "favourite",
        "fun",
        "funny",
        "good",
        "great",
        "haha",
        "happy",
        "helpful",
        "inspiring",
        "interesting",
        "like",
        "liked",
        "lol",
        "love",
        "loved",
        "lovely",
        "loving",
        "nice",
        "perfect",
        "thank",
        "thanks",
        "useful",
        "wonderful",
        "wow",
    }
)
NEGATIVE = frozenset(
    {
        "angry",
        "annoying",
        "awful",
        "bad",
        "boring",
        "cringe",
        "disagree",
        "disappointed",
        "disappointing",
        "dislike",
        "fake",
        "hate",
        "hated",
        "horrible",
        "meh",
        "poor",
        "sad",
        "scam",
        "spam",
        "stupid",
        "sure",
        "terrible",
        "ugly",
        "unsure",
        "useless",
        "waste",
        "worst",
        "wrong",
    }
)
NEGATORS = frozenset(
    {
        "can't",
        "cannot",
        "didn't",
        "doesn't",
        "don't",
        "isn't",
        "never",
        "no",
        "nor",
        "not",
        "wasn't",
    }
)
#: ``sure`` is negative only after a negator ("not sure"); alone it reads as agreement.
_ONLY_NEGATED = frozenset({"sure"})
_TOKEN = re.compile(r"[a-z']+")


def comment_score(text: str) -> float:
    """Sentiment of one comment in [-1, 1]."""
    tokens = _TOKEN.findall(text.lower())
    pos = neg = 0
    negated_until = -1
    for i, token in enumerate(tokens):
        if token in NEGATORS:
            negated_until = i + 2
            continue
        negated = i <= negated_until
        if token in _ONLY_NEGATED:
            if negated:
                neg += 1
            continue
        if token in POSITIVE:
            pos, neg = (pos, neg + 1) if negated else (pos + 1, neg)
        elif token in NEGATIVE:
            pos, neg = (pos + 1, neg) if negated else (pos, neg + 1)
    total = pos + neg
    return (pos - neg) / total if total else 0.0
