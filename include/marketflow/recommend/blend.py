"""The recommender: a tuned linear blend of its components' scores, with a popularity fallback.

Each component's scores are scaled to [0, 1] per customer, then summed with weights tuned by
coordinate ascent on a validation split chosen from the data (`validation.py`: the last 28 days
before the as-of date when enough returning customers buy in them, else a per-customer random
hold-out; the components are fitted on the rest), maximising the mean of NDCG@10 "all" and "new".
Where the tuning split shows that customers do not come back to items they bought (a ratings
table: nobody rates an item twice), the blend learns to put those items last (`seen_items`).
Customers without history get popularity alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from marketflow.recommend import models
from marketflow.recommend.evaluate import HoldoutTask, seen_mask, top_k
from marketflow.recommend.interactions import ITEM, USER, History, as_timestamp, normalise_frame, split_at
from marketflow.recommend.params import RecommenderParams
from marketflow.recommend.runtime import cpu_threads, resolve_device
from marketflow.recommend.validation import TuningSplit, choose_split

log = logging.getLogger(__name__)

SCORE_CHUNK = 2048
_TUNING_PASSES = 2
SeenItems = Literal["rank", "last"]


def unit_scale(scores: np.ndarray) -> np.ndarray:
    """Min-max scale each row to [0, 1] so components of different units can be added."""
    low = scores.min(axis=1, keepdims=True)
    span = scores.max(axis=1, keepdims=True) - low
    return np.divide(scores - low, span, out=np.zeros_like(scores), where=span > 0)


@dataclass
class Recommender:
    """Fitted components + blend weights over one item vocabulary; scores any newer history."""

    params: RecommenderParams
    item_ids: np.ndarray
    components: dict[str, models.Component]
    weights: dict[str, float]
    fitted_as_of: pd.Timestamp
    training: dict[str, Any] = field(default_factory=dict)
    seen_items: SeenItems = "rank"

    # --- fitting ----------------------------------------------------------------------------------

    @classmethod
    def fit(
        cls,
        interactions: pd.DataFrame,
        params: RecommenderParams | None = None,
        as_of: Any = None,
        weights: dict[str, float] | None = None,
        earlier: Recommender | None = None,
    ) -> Recommender:
        """Fit on `interactions` before `as_of`; weights: given, from params, or tuned on validation.

        `earlier`: a model of the same settings fitted as of the start of this fit's temporal tuning
        window (the weekly job's evaluation model): its components are reused for the tuning instead
        of being trained again on the same purchases."""
        params = params or RecommenderParams()
        frame = normalise_frame(interactions)
        if as_of is not None:
            frame = split_at(frame, as_of)[0]
        history = History.from_frame(frame, as_of=as_of)
        weights = weights or params.blend.weights
        tuning: dict[str, Any] = {}
        seen_items: SeenItems = "rank" if params.blend.seen_items == "auto" else params.blend.seen_items
        if weights is None:
            weights, seen_items, tuning = tune_weights(frame, params, history.as_of, earlier)
        model = cls._fit_components(history, params, weights)
        model.seen_items = seen_items
        model.training["tuning"] = tuning
        model.training["id_kinds"] = {USER: id_kind(interactions[USER]), ITEM: id_kind(interactions[ITEM])}
        return model

    @classmethod
    def _fit_components(
        cls,
        history: History,
        params: RecommenderParams,
        weights: dict[str, float],
        reusable: dict[str, models.Component] | None = None,
    ) -> Recommender:
        """Train the components with weight (and popularity) on `history`; `reusable` ones, already
        fitted on this very history, are taken as they are."""
        device = resolve_device(params.device)
        reusable = reusable or {}
        fitted = {}
        # a component the tuning switched off is not trained; popularity always is (cold start)
        with cpu_threads(params.cpu_threads):
            for name in (n for n in params.components if weights.get(n) or n == "popularity"):
                if name in reusable:
                    fitted[name] = reusable[name]
                    continue
                component = models.build(name, params, device)
                component.fit(history)
                fitted[name] = component
        training = {
            "device": device.type,
            "events": history.n_events,
            "customers": history.n_users,
            "items": history.n_items,
            "throughput": {name: c.throughput.as_dict() for name, c in fitted.items() if name not in reusable},
            "reused": sorted(set(fitted) & set(reusable)),
        }
        log.info("fitted %s as of %s on %s: %s", list(fitted), history.as_of.date(), device, training)
        return cls(params, history.item_ids, fitted, dict(weights), history.as_of, training)

    # --- scoring ----------------------------------------------------------------------------------

    def history(self, interactions: pd.DataFrame, as_of: Any = None) -> History:
        """Encode customers' purchases against this model's catalogue (other items are dropped)."""
        return History.from_frame(interactions, item_ids=self.item_ids, as_of=as_of)

    def component_scores(self, history: History, rows: np.ndarray) -> dict[str, np.ndarray]:
        """Each component's scores for `rows`, scaled to [0, 1] per customer."""
        return {name: unit_scale(c.score(history, rows)) for name, c in self.components.items()}

    def score(self, history: History, rows: np.ndarray) -> np.ndarray:
        """Blended scores (len(rows), n_items), computed in chunks to bound memory."""
        out = np.empty((len(rows), len(self.item_ids)), dtype=np.float32)
        for start in range(0, len(rows), SCORE_CHUNK):
            chunk = rows[start : start + SCORE_CHUNK]
            scores = blend(self.component_scores(history, chunk), self.weights)
            out[start : start + len(chunk)] = self._place_seen(scores, history, chunk)
        return out

    def _place_seen(self, scores: np.ndarray, history: History, rows: np.ndarray) -> np.ndarray:
        """`scores` with the customers' bought items after all others when `seen_items` is "last"."""
        if self.seen_items == "rank":
            return scores
        return seen_last(scores, seen_mask(history, rows), self.weights)

    def recommend(
        self,
        interactions: pd.DataFrame,
        k: int = 20,
        users: Any = None,
        as_of: Any = None,
        exclude_seen: bool = False,
    ) -> pd.DataFrame:
        """Top-k per user (default: every user in `interactions`), with score and driving component.

        Users without usable history get the popularity ranking. Ids come back with the type they
        were fitted with (integer or text); ids of the other type raise instead of matching nobody.
        """
        kinds = self.id_kinds
        for column in (USER, ITEM):
            if id_kind(interactions[column]) != kinds[column]:
                raise TypeError(
                    f"interactions' {column!r} ids are {id_kind(interactions[column])}, "
                    f"the model was fitted on {kinds[column]} ids"
                )
        ranked = self.recommend_from(self.history(interactions, as_of=as_of), k, users, exclude_seen)
        for column in (USER, ITEM):
            if kinds[column] == "integer":
                ranked[column] = ranked[column].astype("int64")
        return ranked

    def recommend_from(
        self, history: History, k: int = 20, users: Any = None, exclude_seen: bool = False
    ) -> pd.DataFrame:
        """`recommend` over an already encoded `history`, for a caller that needs the history again (the
        DAG explains the recommendations from it). `users` as for `recommend`; the ids come back as the
        model's text keys."""
        wanted = history.user_ids if users is None else self._user_keys(users)
        rows = history.positions_of(wanted)
        known, cold = wanted[rows >= 0], wanted[rows < 0]
        frames = []
        for start in range(0, len(known), SCORE_CHUNK):
            chunk = rows[rows >= 0][start : start + SCORE_CHUNK]
            parts = self.component_scores(history, chunk)
            scores = blend(parts, self.weights)
            if exclude_seen:  # removed outright, so where "last" would place them does not matter
                scores = np.where(seen_mask(history, chunk), -np.inf, scores)
            else:
                scores = self._place_seen(scores, history, chunk)
            frames.append(self._ranked(history.user_ids[chunk], scores, parts, k))
        if len(cold):
            popular = self.components["popularity"].score(history, np.zeros(len(cold), dtype=np.int64))
            frames.append(self._ranked(cold, popular, {"popularity": unit_scale(popular)}, k))
        columns = ["user", "item", "rank", "score", "source"]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)

    @property
    def id_kinds(self) -> dict[str, str]:
        """"integer" or "text" per id column, as fitted (text for models fitted before it was kept)."""
        return self.training.get("id_kinds", {USER: "text", ITEM: "text"})

    def _user_keys(self, users: Any) -> np.ndarray:
        """`users` as the model's internal (text) keys, after checking they have the fitted id type."""
        users = list(users)
        wrong = [user for user in users if value_kind(user) != self.id_kinds[USER]]
        if wrong:
            raise TypeError(
                f"users {wrong[:3]} are not {self.id_kinds[USER]} ids like those the model was fitted on"
            )
        return np.asarray([str(user) for user in users], dtype=object)

    def _ranked(
        self, users: np.ndarray, scores: np.ndarray, parts: dict[str, np.ndarray], k: int
    ) -> pd.DataFrame:
        ranked = top_k(scores, k)
        names = list(parts)
        contributions = np.stack(
            [self.weights.get(n, 1.0) * np.take_along_axis(parts[n], ranked, axis=1) for n in names]
        )
        return pd.DataFrame(
            {
                "user": np.repeat(users, ranked.shape[1]),
                "item": self.item_ids[ranked.ravel()],
                "rank": np.tile(np.arange(1, ranked.shape[1] + 1), len(users)),
                "score": np.take_along_axis(scores, ranked, axis=1).ravel().astype(float),
                "source": np.array(names, dtype=object)[contributions.argmax(axis=0).ravel()],
            }
        )


def id_kind(ids: pd.Series) -> str:
    """"integer" for a column of integer ids, "text" for any other (ids are matched as text inside)."""
    return "integer" if pd.api.types.is_integer_dtype(ids) else "text"


def value_kind(value: Any) -> str:
    """`id_kind` of one id (booleans and floats are neither: they never match)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return "integer"
    return "text" if isinstance(value, str) else type(value).__name__


def blend(parts: dict[str, np.ndarray], weights: dict[str, float]) -> np.ndarray:
    total = np.zeros_like(next(iter(parts.values())))
    for name, scores in parts.items():
        if weights.get(name, 0.0):
            total += np.float32(weights[name]) * scores
    return total


def seen_last(scores: np.ndarray, seen: np.ndarray, weights: dict[str, float]) -> np.ndarray:
    """Blended `scores` (each within [0, sum of weights]) with the `seen` items moved below every
    other item, their order among themselves kept."""
    return np.where(seen, scores - np.float32(sum(weights.values()) + 1), scores)


def _objective(metrics: dict[str, dict[str, float]]) -> float:
    return (metrics["all"]["ndcg@10"] + metrics["new"]["ndcg@10"]) / 2


def tune_weights(
    frame: pd.DataFrame, params: RecommenderParams, as_of: pd.Timestamp, earlier: Recommender | None = None
) -> tuple[dict[str, float], SeenItems, dict[str, Any]]:
    """Blend weights by coordinate ascent on the validation split `params.validation` picks, and
    where seen items go (`params.blend.seen_items`; "auto": "last" only when it scores better).

    The components are fitted on the split's fit part (or taken from `earlier` when it was fitted
    on exactly that part); nothing at or after `as_of` is read.
    """
    split = choose_split(frame, params.validation, as_of, params.seed)
    if split.fit_part.empty or split.validation.empty:
        raise ValueError(
            f"cannot tune blend weights on the {split.description['kind']} split before "
            f"{as_timestamp(as_of).date()}: it leaves no purchases to fit on or none to validate on "
            f"({split.description}); give blend.weights instead"
        )
    equal = {name: 1.0 for name in params.components}
    fit_history = History.from_frame(split.fit_part, as_of=split.fit_as_of)
    inner = Recommender._fit_components(fit_history, params, equal, _reusable(earlier, split, fit_history, params))
    task = HoldoutTask(inner.history(split.fit_part, as_of=split.fit_as_of), split.validation)
    parts = inner.component_scores(task.history, task.rows)
    components = {name: task.evaluate_scores(parts[name]) for name in parts}
    # a component that ranks nothing here (e.g. the ranker on a table without time order) starts at
    # weight 0; no weight can improve the objective through it, so it stays 0 and is not trained again
    start = {name: 0.0 if name != "popularity" and not parts[name].any() else 1.0 for name in params.components}

    def objective(trial: dict[str, float], seen_items: SeenItems) -> float:
        scores = blend(parts, trial)
        return _objective(task.evaluate_scores(seen_last(scores, task.seen, trial) if seen_items == "last" else scores))

    seen_items: SeenItems = "last" if params.blend.seen_items == "last" else "rank"
    weights, best = _coordinate_ascent(objective, start, seen_items, params)
    # "auto": try the tuned blend with seen items last; a split where they come back keeps "rank"
    if params.blend.seen_items == "auto" and objective(weights, "last") > best + 1e-9:
        seen_items = "last"
        weights, best = _coordinate_ascent(objective, weights, seen_items, params)
    log.info("tuned blend weights %s, seen items %s, on %s: objective %.4f", weights, seen_items, split.description, best)
    summary = {
        **split.description,
        "seen_items": seen_items,
        "objective": best,
        "components": components,
        "fit_throughput": inner.training["throughput"],
        "reused": inner.training["reused"],
    }
    return weights, seen_items, summary


def _coordinate_ascent(
    objective: Callable[[dict[str, float], SeenItems], float], start: dict[str, float], seen_items: SeenItems, params: RecommenderParams
) -> tuple[dict[str, float], float]:
    """From `start`, each component's weight in turn set to the grid value that scores best."""
    weights, best = dict(start), objective(start, seen_items)
    for _ in range(_TUNING_PASSES):
        for name in params.components:
            for value in params.blend.grid:
                trial = {**weights, name: value}
                if not any(trial.values()):
                    continue
                score = objective(trial, seen_items)
                if score > best + 1e-9:
                    weights, best = trial, score
    return weights, best


def _reusable(
    earlier: Recommender | None, split: TuningSplit, history: History, params: RecommenderParams
) -> dict[str, models.Component]:
    """`earlier`'s components when they were fitted with the same settings on the same purchases
    (a temporal split starting where `earlier` was fitted, over the same catalogue), else none."""
    if (
        earlier is None
        or split.description["kind"] != "temporal"
        or earlier.fitted_as_of != split.fit_as_of
        or earlier.params != params
        or not np.array_equal(earlier.item_ids, history.item_ids)
    ):
        return {}
    return dict(earlier.components)
