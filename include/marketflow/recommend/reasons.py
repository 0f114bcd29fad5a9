"""Human-readable reasons for each recommendation, for the e-mail ("because ...") and the audit.

- an item the customer bought before: "you buy this often" (2+ purchases) or "you bought this before";
- an item recommended from what the customer bought: "bought with <the customer's item most
  associated with it>", the association read from the EASE (or next-window) item-item weights, the
  blend's own or the ones inside the ranker;
- otherwise (cold start, or the popularity component led): "popular this week/month".
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from marketflow.recommend.blend import Recommender
from marketflow.recommend.interactions import History
from marketflow.recommend.reason_text import BOUGHT_BEFORE, BOUGHT_OFTEN, BOUGHT_WITH, popularity_reason

#: whose item-item weights name the anchor, first found first: the blend's EASE, its next-window
#: model, the EASE inside its ranker
_ASSOCIATION_SOURCES = ("ease", "transition", "ranker")


def explain(model: Recommender, history: History, recommendations: pd.DataFrame) -> pd.Series:
    """One reason per row of `model.recommend(...)` output (columns user, item, source); an anchor is
    named by its latest description in `history` (as of the history's date), else by its id."""
    association = next(
        (model.components[n].associations() for n in _ASSOCIATION_SOURCES if n in model.components), None
    )
    counts = history.matrix(np.ones_like(history.weight))
    positions = history.positions_of(recommendations["user"].to_numpy())
    columns = pd.Index(model.item_ids).get_indexer(recommendations["item"].to_numpy())
    known = positions >= 0
    times = np.zeros(len(recommendations))
    times[known] = np.asarray(counts[positions[known], columns[known]]).ravel()
    anchors = np.full(len(recommendations), -1)
    if association is not None:
        for rows in recommendations.groupby("user", sort=False).indices.values():
            bought = counts[positions[rows[0]]].indices if known[rows[0]] else []
            if len(bought):
                anchors[rows] = bought[np.argmax(association[bought][:, columns[rows]], axis=0)]
    texts = history.item_text if history.item_text is not None else np.full(len(model.item_ids), "", dtype=object)
    anchor_names = np.array([text or str(i) for text, i in zip(texts, model.item_ids)], dtype=object)
    associated = (anchors >= 0) & (recommendations["source"].to_numpy() != "popularity")
    reasons = np.full(len(recommendations), popularity_reason(model.params.popularity.window_days), dtype=object)
    reasons[associated] = BOUGHT_WITH + anchor_names[anchors[associated]]
    reasons[times == 1] = BOUGHT_BEFORE
    reasons[times >= 2] = BOUGHT_OFTEN
    return pd.Series(reasons, index=recommendations.index, dtype=object)
