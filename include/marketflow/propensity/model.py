"""The propensity model: seeded, bagged LightGBM boosters averaged in log-odds, plus a Platt
calibration fitted on later cut-offs.

The calibration is fitted on the latest cut-offs scored by boosters trained without them; the boosters
that ship are then refitted with the same parameters on every cut-off, so the newest weeks also shape
the ranking (chosen by validation on earlier cut-offs: higher ROC AUC, PR AUC and lift on most of
them, calibration unchanged; see README.md).

Averaging several bagged boosters cuts the variance one seed's samples leave in the ranking (chosen
the same way; README.md). TreeSHAP values add up, so the mean of the boosters' `pred_contrib` is the
exact attribution of the mean log-odds. Platt scaling (a logistic curve on those log-odds) is strictly
increasing, so calibration fixes the probability scale without reordering customers: AUC and
top-decile lift are the ensemble's, and the reasons explain the same ranking the score gives.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd

from marketflow.propensity.features import FEATURES
from marketflow.propensity.settings import PropensitySettings

ARTIFACT_FORMAT = "marketflow-propensity/2"
#: Artifacts of one booster (before the ensemble), still readable from existing model stores.
SINGLE_BOOSTER_FORMAT = "marketflow-propensity/1"


@dataclass(frozen=True)
class Platt:
    """p = 1 / (1 + exp(-(slope * raw_log_odds + intercept)))."""

    slope: float
    intercept: float

    def apply(self, raw_log_odds: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.slope * raw_log_odds + self.intercept)))


def fit_platt(raw_log_odds: np.ndarray, labels: np.ndarray) -> Platt:
    """Maximum-likelihood Platt parameters (unregularised logistic regression on one input)."""
    from sklearn.linear_model import LogisticRegression

    if len(np.unique(labels)) < 2:
        raise ValueError("the calibration slice needs buyers and non-buyers")
    fit = LogisticRegression(C=np.inf, solver="lbfgs").fit(raw_log_odds.reshape(-1, 1), labels)
    return Platt(slope=float(fit.coef_[0, 0]), intercept=float(fit.intercept_[0]))


@dataclass(frozen=True)
class PropensityModel:
    boosters: tuple[lgb.Booster, ...]
    platt: Platt
    features: tuple[str, ...]
    #: The probability for a known customer without a product purchase yet (no profile to score):
    #: estimated at training (`library.no_purchase_rate`); None in artifacts older than it.
    no_purchase_rate: float | None = None

    def _matrix(self, features: pd.DataFrame) -> np.ndarray:
        return features[list(self.features)].to_numpy(dtype=np.float64)

    def raw_log_odds(self, features: pd.DataFrame) -> np.ndarray:
        """The boosters' mean log-odds (uncalibrated), one per row."""
        matrix = self._matrix(features)
        return np.mean([booster.predict(matrix, raw_score=True) for booster in self.boosters], axis=0)

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of a purchase within the horizon, one per row."""
        return self.platt.apply(self.raw_log_odds(features))

    def contributions(self, features: pd.DataFrame) -> np.ndarray:
        """Per-row, per-feature SHAP contributions to `raw_log_odds` (last column: the bias)."""
        matrix = self._matrix(features)
        return np.mean([booster.predict(matrix, pred_contrib=True) for booster in self.boosters], axis=0)

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": ARTIFACT_FORMAT,
                "features": list(self.features),
                "platt": {"slope": self.platt.slope, "intercept": self.platt.intercept},
                "boosters": [booster.model_to_string() for booster in self.boosters],
                "no_purchase_rate": self.no_purchase_rate,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> PropensityModel:
        document = json.loads(text)
        if document.get("format") == SINGLE_BOOSTER_FORMAT:
            texts = [document["booster"]]
        elif document.get("format") == ARTIFACT_FORMAT:
            texts = document["boosters"]
        else:
            raise ValueError(f"not a propensity model artifact (format {document.get('format')!r})")
        return cls(
            boosters=tuple(lgb.Booster(model_str=text) for text in texts),
            platt=Platt(**document["platt"]),
            features=tuple(document["features"]),
            no_purchase_rate=document.get("no_purchase_rate"),
        )


@dataclass(frozen=True)
class TrainingReport:
    """What a training run used and how the model did on its own calibration slice (the AUC is the
    held-out boosters'; the shipped boosters are refitted on `train_cutoffs`, which include it)."""

    train_cutoffs: list[dt.date]
    calibration_cutoffs: list[dt.date]
    train_rows: int
    calibration_rows: int
    calibration_base_rate: float
    calibration_mean_prediction: float
    calibration_auc: float
    recency_baseline_auc: float

    def as_dict(self) -> dict[str, object]:
        return {
            "train_cutoffs": [self.train_cutoffs[0].isoformat(), self.train_cutoffs[-1].isoformat()],
            "calibration_cutoffs": [day.isoformat() for day in self.calibration_cutoffs],
            "train_rows": self.train_rows,
            "calibration_rows": self.calibration_rows,
            "calibration_base_rate": round(self.calibration_base_rate, 5),
            "calibration_mean_prediction": round(self.calibration_mean_prediction, 5),
            "calibration_auc": round(self.calibration_auc, 5),
            "recency_baseline_auc": round(self.recency_baseline_auc, 5),
        }


def train_boosters(
    rows: pd.DataFrame, settings: PropensitySettings, features: tuple[str, ...] = FEATURES
) -> tuple[lgb.Booster, ...]:
    """`ensemble_size` x `lgb.train` on the stacked rows (columns `features` + label), member i
    seeded seed + i: deterministic for a seed."""
    matrix, labels = rows[list(features)].to_numpy(dtype=np.float64), rows["label"].to_numpy()
    return tuple(
        lgb.train(
            settings.lightgbm_params(member),
            lgb.Dataset(matrix, label=labels, feature_name=list(features)),
            num_boost_round=settings.num_boost_round,
        )
        for member in range(settings.ensemble_size)
    )


def train_model(
    dataset: pd.DataFrame, settings: PropensitySettings, features: tuple[str, ...] = FEATURES
) -> tuple[PropensityModel, TrainingReport]:
    """Fit Platt on the latest `calibration_cutoffs` scored by a booster trained on the earlier ones,
    then ship that calibration with boosters refitted on every cut-off (`features`: a subset of
    FEATURES for the bench's ablation)."""
    from sklearn.metrics import roc_auc_score

    cutoffs = sorted(set(dataset["cutoff"]))
    if len(cutoffs) <= settings.calibration_cutoffs:
        raise ValueError(
            f"{len(cutoffs)} cut-off(s) available, need more than calibration_cutoffs={settings.calibration_cutoffs}"
        )
    calibration_days = cutoffs[-settings.calibration_cutoffs :]
    is_calibration = dataset["cutoff"].isin(calibration_days)
    calibration = dataset[is_calibration]
    held_out = PropensityModel(
        boosters=train_boosters(dataset[~is_calibration], settings, features), platt=Platt(1.0, 0.0), features=features
    )
    raw = held_out.raw_log_odds(calibration)
    labels = calibration["label"].to_numpy()
    platt = fit_platt(raw, labels)
    recency_cap = float(calibration["recency_days"].max()) + 1.0  # never bought: last in the recency ranking
    model = PropensityModel(boosters=train_boosters(dataset, settings, features), platt=platt, features=features)
    report = TrainingReport(
        train_cutoffs=cutoffs,
        calibration_cutoffs=calibration_days,
        train_rows=len(dataset),
        calibration_rows=len(calibration),
        calibration_base_rate=float(labels.mean()),
        calibration_mean_prediction=float(platt.apply(raw).mean()),
        calibration_auc=float(roc_auc_score(labels, raw)),
        # the simplest ranking on the same rows, most recent buyers first: the Models page's baseline
        recency_baseline_auc=float(roc_auc_score(labels, -calibration["recency_days"].fillna(recency_cap))),
    )
    return model, report
