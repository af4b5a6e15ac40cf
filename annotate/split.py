"""Stage 6: the least popular paintings go to the test set, each artist keeping its share."""

from __future__ import annotations

import math
from collections import defaultdict

from critic.annotate.paintings import Painting, fold


def artist_quotas(counts: dict[str, int], total: int) -> dict[str, int]:
    """Split `total` test places among artists in proportion to their painting counts.

    Largest remainder: each artist gets the floor of its exact share, and the places left go
    to the largest fractional parts (ties to the artist with more paintings, then by name),
    so the quotas sum to exactly `total` and no artist is off by one place or more.
    """
    size = sum(counts.values())
    total = max(0, min(total, size))
    if size == 0:
        return {}
    exact = {artist: total * n / size for artist, n in counts.items()}
    quotas = {artist: math.floor(share) for artist, share in exact.items()}
    left = total - sum(quotas.values())
    order = sorted(counts, key=lambda a: (-(exact[a] - quotas[a]), -counts[a], a))
    for artist in order[:left]:
        quotas[artist] += 1
    return quotas


def split(paintings: list[Painting], test_count: int) -> tuple[list[Painting], list[Painting]]:
    """(train, test): `test_count` paintings, the least popular of each artist's quota, to test."""
    by_artist: dict[str, list[Painting]] = defaultdict(list)
    for painting in paintings:
        by_artist[fold(painting.artist)].append(painting)
    quotas = artist_quotas({a: len(ps) for a, ps in by_artist.items()}, test_count)
    test_ids: set[str] = set()
    for artist, group in by_artist.items():
        group.sort(key=lambda p: (p.popularity, p.id))
        test_ids.update(p.id for p in group[: quotas[artist]])
    train = [p for p in paintings if p.id not in test_ids]
    test = [p for p in paintings if p.id in test_ids]
    return train, test
