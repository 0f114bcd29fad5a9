"""Customer lifetime value: BG/NBD (how many purchases) x Gamma-Gamma (how much per purchase).

A maximum-likelihood implementation with scipy of:

- BG/NBD: Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An Alternative to the
  Pareto/NBD Model", Marketing Science 24(2). Log-likelihood eq. (6), conditional expectation eq. (10).
  The Gaussian hypergeometric function there is evaluated after Euler's transformation,
  2F1(a, b; c; z) = (1 - z)^(c - a - b) 2F1(c - a, c - b; c; z), which keeps its first two parameters
  small for frequent buyers (the untransformed series overflows for x in the hundreds).
- Gamma-Gamma: Fader & Hardie (2013), "The Gamma-Gamma Model of Monetary Value"; fitted on customers
  with repeat purchases, using the mean value of their repeat purchases.

Units: time in days; a purchase is a purchase invoice (`marketflow.profiles.history`); the first
purchase starts the customer's clock and is not a repeat. Validated by recovering known parameters
from data simulated from the model and by the paper's worked example (tests/profiles/test_clv.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1


@dataclass(frozen=True)
class BgNbdParams:
    """Purchase rate ~ Gamma(r, alpha) (alpha in days); drop-out probability ~ Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float


@dataclass(frozen=True)
class GammaGammaParams:
    """Spend per purchase ~ Gamma(p, nu), nu ~ Gamma(q, v) across customers."""

    p: float
    q: float
    v: float

    @property
    def mean_spend(self) -> float:
        """Population mean of the spend per purchase (finite only for q > 1)."""
        return self.p * self.v / (self.q - 1) if self.q > 1 else float("inf")


def bgnbd_log_likelihood(params: BgNbdParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Per-customer log-likelihood of x repeat purchases, the last at t_x, observed for T days."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x = np.asarray(x, dtype=float)
    common = gammaln(r + x) - gammaln(r) + r * np.log(alpha) - betaln(a, b)
    survived = betaln(a, b + x) - (r + x) * np.log(alpha + np.asarray(T, dtype=float))
    repeat = x > 0
    dropped = np.full_like(x, -np.inf)
    dropped[repeat] = betaln(a + 1, b + x[repeat] - 1) - (r + x[repeat]) * np.log(
        alpha + np.asarray(t_x, dtype=float)[repeat]
    )
    return common + np.logaddexp(survived, dropped)


def _fit(negative_ll: Callable[[np.ndarray], float], start: np.ndarray) -> list[float]:
    """Minimise over log-parameters (keeps every parameter positive); deterministic for a given start."""
    result = minimize(negative_ll, start, method="L-BFGS-B", bounds=[(-12.0, 12.0)] * len(start))
    if not np.all(np.isfinite(result.x)):
        raise ValueError(f"CLV fit diverged: {result.message}")
    return [float(value) for value in np.exp(result.x)]


def _unique_rows(*columns: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Distinct rows and their counts: customers with identical summaries share one likelihood term."""
    stacked = np.column_stack([np.asarray(column, dtype=float) for column in columns])
    unique, counts = np.unique(stacked, axis=0, return_counts=True)
    return [unique[:, i] for i in range(unique.shape[1])], counts


def fit_bgnbd(x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> BgNbdParams:
    """Maximum-likelihood BG/NBD parameters for repeat counts x, last repeat times t_x and ages T (days)."""
    (ux, ut_x, uT), weights = _unique_rows(x, t_x, T)

    def negative_ll(log_params: np.ndarray) -> float:
        params = BgNbdParams(*np.exp(log_params))
        return -float(np.dot(weights, bgnbd_log_likelihood(params, ux, ut_x, uT))) / weights.sum()

    start = np.log([1.0, max(float(np.mean(T)), 1.0), 1.0, 1.0])
    return BgNbdParams(*_fit(negative_ll, start))


def bgnbd_expected_purchases(
    params: BgNbdParams, t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray
) -> np.ndarray:
    """Expected purchases in the next `t` days of customers with summary (x, t_x, T)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x = np.asarray(x, dtype=float)
    T = np.asarray(T, dtype=float)
    t_x = np.asarray(t_x, dtype=float)
    z = t / (alpha + T + t)
    # (1 - z)^(r + x) * 2F1(r + x, b + x; a + b + x - 1; z), after Euler's transformation:
    survival_term = (1 - z) ** (a - 1) * hyp2f1(a + b - 1 - r, a - 1, a + b + x - 1, z)
    numerator = (a + b + x - 1) / (a - 1) * (1 - survival_term)
    with np.errstate(over="ignore"):
        log_odds_dropped = (
            np.log(a) - np.log(np.where(x > 0, b + x - 1, 1.0)) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
        )
        denominator = 1 + np.where(x > 0, np.exp(log_odds_dropped), 0.0)
    return numerator / denominator


def gamma_gamma_log_likelihood(params: GammaGammaParams, x: np.ndarray, mean_spend: np.ndarray) -> np.ndarray:
    """Per-customer log-likelihood (up to a constant) of x purchases with mean spend `mean_spend`."""
    p, q, v = params.p, params.q, params.v
    x = np.asarray(x, dtype=float)
    m = np.asarray(mean_spend, dtype=float)
    px = p * x
    return (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(v)
        + (px - 1) * np.log(m)
        + px * np.log(x)
        - (px + q) * np.log(v + x * m)
    )


def fit_gamma_gamma(x: np.ndarray, mean_spend: np.ndarray) -> GammaGammaParams:
    """Maximum-likelihood Gamma-Gamma parameters from customers with x >= 1 and mean spend > 0."""
    (ux, um), weights = _unique_rows(x, mean_spend)

    def negative_ll(log_params: np.ndarray) -> float:
        params = GammaGammaParams(*np.exp(log_params))
        return -float(np.dot(weights, gamma_gamma_log_likelihood(params, ux, um))) / weights.sum()

    start = np.log([1.0, 2.0, max(float(np.mean(mean_spend)), 1.0)])
    return GammaGammaParams(*_fit(negative_ll, start))


def gamma_gamma_expected_spend(params: GammaGammaParams, x: np.ndarray, mean_spend: np.ndarray) -> np.ndarray:
    """Expected spend per future purchase given x past repeat purchases of mean `mean_spend`
    (the population mean for customers without repeats)."""
    x = np.asarray(x, dtype=float)
    m = np.where(x > 0, np.asarray(mean_spend, dtype=float), 0.0)
    return params.p * (params.v + x * m) / (params.p * x + params.q - 1)


def rfm_summary(invoices: pd.DataFrame, today: int) -> pd.DataFrame:
    """Per customer from purchase invoices up to `today` (day numbers): x, t_x, T and the mean value
    of the repeat purchases (NaN without repeats). `invoices` must be in the order of
    `OrderHistory.invoices` (by customer, then day, time, invoice number): the first is not a repeat."""
    ordered = invoices[invoices["is_purchase"] & (invoices["day"] <= today)]
    grouped = ordered.groupby("customer_id", sort=True, observed=True)
    first_day = grouped["day"].min()
    summary = pd.DataFrame(
        {
            "x": grouped.size() - 1,
            "t_x": grouped["day"].max() - first_day,
            "T": today - first_day,
        }
    )
    repeats = ordered[grouped.cumcount() > 0]
    summary["repeat_mean_spend"] = repeats.groupby("customer_id", sort=True, observed=True)["purchase_value"].mean()
    summary.index = summary.index.astype(str)
    return summary


@dataclass(frozen=True)
class ClvModel:
    """Both fitted models; predicts expected purchases and spend over a horizon."""

    purchases: BgNbdParams
    spend: GammaGammaParams | None

    def predict(self, summary: pd.DataFrame, horizon_days: float) -> pd.DataFrame:
        expected_purchases = bgnbd_expected_purchases(
            self.purchases, horizon_days, summary["x"].to_numpy(), summary["t_x"].to_numpy(), summary["T"].to_numpy()
        )
        if self.spend is None:
            expected_spend = np.full(len(summary), np.nan)
        else:
            per_purchase = gamma_gamma_expected_spend(
                self.spend, summary["x"].to_numpy(), summary["repeat_mean_spend"].fillna(0.0).to_numpy()
            )
            expected_spend = expected_purchases * per_purchase
        return pd.DataFrame(
            {"expected_purchases": expected_purchases, "expected_spend": expected_spend}, index=summary.index
        )


def fit_clv(summary: pd.DataFrame) -> ClvModel:
    """Fit BG/NBD on every customer and Gamma-Gamma on those with positive repeat spend; the spend
    model is dropped (None) when its fit has no finite mean (q <= 1)."""
    purchases = fit_bgnbd(summary["x"].to_numpy(), summary["t_x"].to_numpy(), summary["T"].to_numpy())
    repeaters = summary[(summary["x"] > 0) & (summary["repeat_mean_spend"] > 0)]
    spend = fit_gamma_gamma(repeaters["x"].to_numpy(), repeaters["repeat_mean_spend"].to_numpy())
    return ClvModel(purchases=purchases, spend=spend if spend.q > 1 else None)
