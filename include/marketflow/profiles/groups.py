"""Product groups from product descriptions (the shop's data has no categories).

Method: the words of each description (colours, sizes and filler words removed, simple plurals
folded, the last remaining word - usually the product's noun, "HOLDER", "BAG" - counted twice) ->
TF-IDF -> 100-dimensional LSA -> k-means with a fixed seed. A group is named after the words most of
its members share ("t-light & holder", "lunch & bag"); a group whose commonest word covers fewer
than 30% of its members is named "mixed: <top words>" so nobody mistakes it for a category.

When: groups are fitted on the catalogue as of the first day of each month, or of the history's
first day in its first month (stable names for a month, and a function of data up to that day
only); every product sold by the as-of date, including those first sold later in the month, joins
the group of the nearest centroid. `groups_as_of` does both and is deterministic.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from marketflow.profiles.history import OrderHistory, catalogue_as_of
from marketflow.profiles.settings import ProfileSettings

FILLER_WORDS = frozenset(
    """OF SET THE AND IN WITH FOR TO ON ASSORTED ASST DESIGN PACK COLOUR COLOURS SIZE WHITE RED PINK BLUE
    GREEN BLACK IVORY CREAM GOLD SILVER PURPLE ORANGE YELLOW BROWN GREY CLEAR NATURAL PASTEL TURQUOISE LILAC
    AQUA SMALL LARGE MINI JUMBO MEDIUM BIG LITTLE VINTAGE RETROSPOT SPOTTY POLKADOT SPOT SPOTS TALL ROUND
    SQUARE""".split()
)
MIXED_BELOW = 0.30
SECOND_WORD_FROM = 0.30
LSA_DIMENSIONS = 100


def description_words(description: str) -> list[str]:
    """Content words of a description, singular, upper case, in order."""
    words = []
    for raw in re.findall(r"[A-Za-z][A-Za-z'\-]+", description.upper()):
        word = raw.strip("-'")
        if len(word) < 3 or word in FILLER_WORDS:
            continue
        words.append(_singular(word))
    return words


def _singular(word: str) -> str:
    if word.endswith("ES") and word[:-2].endswith(("CH", "SH", "X")):
        return word[:-2]
    if word.endswith("S") and not word.endswith("SS") and len(word) > 3:
        return word[:-1]
    return word


def _tokens(description: str) -> list[str]:
    words = description_words(description)
    return words + words[-1:]


@dataclass(frozen=True)
class GroupModel:
    """A fitted grouping: vectoriser, LSA projection and centroids, plus each group's name."""

    vectorizer: object
    projection: object | None
    centroids: np.ndarray
    names: tuple[str, ...]
    _assigned: dict[str, int] = field(default_factory=dict, compare=False, repr=False)

    def _embed(self, descriptions: list[str]) -> np.ndarray:
        from sklearn.preprocessing import normalize

        vectors = self.vectorizer.transform(descriptions)
        if self.projection is not None:
            return normalize(self.projection.transform(vectors))
        return normalize(vectors).toarray()

    def assign(self, descriptions: list[str]) -> np.ndarray:
        """Index of the nearest group for each description (remembered: a day reuses the month's work)."""
        from threadpoolctl import threadpool_limits

        new = sorted({text for text in descriptions if text not in self._assigned})
        if new:
            with threadpool_limits(limits=1):
                embedded = self._embed(new)
            # squared distance minus the row's own norm, which does not change the argmin
            distances = (self.centroids**2).sum(axis=1)[None, :] - 2 * embedded @ self.centroids.T
            self._assigned.update(zip(new, distances.argmin(axis=1).tolist(), strict=True))
        return np.array([self._assigned[text] for text in descriptions], dtype=int)


def fit_groups(descriptions: list[str], settings: ProfileSettings) -> GroupModel:
    """Cluster `descriptions` (in a fixed order) into named groups.

    Members (and so names) are taken from `GroupModel.assign`, the same rule later products follow,
    so a day's groups do not depend on whether the model was just fitted or reused."""
    from sklearn.cluster import KMeans
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize
    from threadpoolctl import threadpool_limits

    k = int(np.clip(round(len(descriptions) / settings.products_per_group), 2, settings.max_groups))
    k = min(k, len(descriptions))
    vectorizer = TfidfVectorizer(tokenizer=_tokens, lowercase=False, token_pattern=None, sublinear_tf=True)
    vectors = vectorizer.fit_transform(descriptions)
    projection = None
    # One BLAS/OpenMP thread: on these small matrices extra threads only add contention (measured
    # 0.5 s single-threaded vs 8 s with default threads on a busy 2-core worker).
    with threadpool_limits(limits=1):
        if vectors.shape[1] > LSA_DIMENSIONS:
            projection = TruncatedSVD(LSA_DIMENSIONS, random_state=settings.group_seed).fit(vectors)
            embedded = normalize(projection.transform(vectors))
        else:
            embedded = normalize(vectors).toarray()
        kmeans = KMeans(n_clusters=k, random_state=settings.group_seed, n_init=4).fit(embedded)
    unnamed = GroupModel(vectorizer=vectorizer, projection=projection, centroids=kmeans.cluster_centers_, names=())
    labels = unnamed.assign(descriptions)
    names = _unique_names([_group_name([descriptions[i] for i in np.flatnonzero(labels == g)]) for g in range(k)])
    return GroupModel(vectorizer=vectorizer, projection=projection, centroids=kmeans.cluster_centers_, names=names)


def _group_name(members: list[str]) -> tuple[str, ...]:
    """Words ranked by the share of members containing them (ties: alphabetical), in the members'
    own spelling (lower case): the first one or two name the group."""
    if not members:
        return ("empty",)
    shares: Counter[str] = Counter()
    spellings: dict[str, Counter[str]] = {}
    for description in members:
        seen = set()
        for raw in re.findall(r"[A-Za-z][A-Za-z'\-]+", description.upper()):
            word = raw.strip("-'")
            if len(word) < 3 or word in FILLER_WORDS:
                continue
            stem = _singular(word)
            spellings.setdefault(stem, Counter())[word.lower()] += 1
            seen.add(stem)
        shares.update(seen)
    if not shares:
        return ("other",)
    ranked = sorted(shares, key=lambda stem: (-shares[stem], stem))
    spelled = [spellings[stem].most_common(1)[0][0] for stem in ranked]
    top_share = shares[ranked[0]] / len(members)
    if top_share < MIXED_BELOW:
        return ("mixed: " + ", ".join(spelled[:3]), *spelled[3:5])
    words = [spelled[0]]
    if len(ranked) > 1 and shares[ranked[1]] / len(members) >= SECOND_WORD_FROM:
        words.append(spelled[1])
    return (" & ".join(words), *spelled[len(words) : len(words) + 2])


def _unique_names(candidates: list[tuple[str, ...]]) -> tuple[str, ...]:
    """First element of each candidate, made unique by adding the next words, then a number."""
    names = [candidate[0] for candidate in candidates]
    counts = Counter(names)
    for index, candidate in enumerate(candidates):
        if counts[candidate[0]] > 1 and len(candidate) > 1:
            names[index] = f"{candidate[0]} ({candidate[1]})"
    seen: Counter[str] = Counter()
    unique = []
    for name in names:
        seen[name] += 1
        unique.append(name if seen[name] == 1 else f"{name} #{seen[name]}")
    return tuple(unique)


def groups_as_of(
    history: OrderHistory, as_of: dt.date, settings: ProfileSettings, model: GroupModel | None = None
) -> tuple[pd.DataFrame, GroupModel | None]:
    """Group of every product sold by `as_of`: stock_code, description, group_id, group_name, fitted_on.

    The groups are fitted on the catalogue as of the fit day (`OrderHistory.fit_day`); every product sold by
    `as_of` then joins the nearest group, by its description as of `as_of`. Pass the model returned
    for another day of the same month to skip refitting (same result). The model is None when the
    fit day's catalogue has fewer than two products (no groups yet).
    """
    columns = ["stock_code", "description", "group_id", "group_name", "fitted_on"]
    fitted_on = history.fit_day(as_of)
    if model is None:
        fit_catalogue = catalogue_as_of(history, fitted_on)
        if len(fit_catalogue) < 2:
            return pd.DataFrame(columns=columns), None
        model = fit_groups(fit_catalogue["description"].tolist(), settings)
    catalogue = catalogue_as_of(history, as_of)
    group_ids = model.assign(catalogue["description"].tolist())
    frame = catalogue[["stock_code", "description"]].assign(
        group_id=group_ids, group_name=[model.names[g] for g in group_ids], fitted_on=fitted_on
    )
    return frame[columns], model
