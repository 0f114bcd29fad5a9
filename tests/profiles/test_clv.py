"""BG/NBD and Gamma-Gamma: the published worked example, and recovery of known parameters from data
simulated from the models themselves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import hyp2f1

from marketflow.profiles.clv import (
    BgNbdParams,
    GammaGammaParams,
    bgnbd_expected_purchases,
    bgnbd_log_likelihood,
    fit_bgnbd,
    fit_clv,
    fit_gamma_gamma,
    gamma_gamma_expected_spend,
    rfm_summary,
)

CDNOW = BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)  # Fader, Hardie & Lee (2005), weeks
TRUE = BgNbdParams(r=0.5, alpha=30.0, a=0.8, b=3.0)  # days: one purchase per 60 days on average


def simulate_bgnbd(params: BgNbdParams, T: np.ndarray, horizon: float, seed: int) -> pd.DataFrame:
    """Per customer: calibration summary (x, t_x, T) and purchases in (T, T + horizon]."""
    rng = np.random.default_rng(seed)
    n = len(T)
    rate = rng.gamma(params.r, 1 / params.alpha, n)
    drop = rng.beta(params.a, params.b, n)
    x, t_x, holdout = np.zeros(n), np.zeros(n), np.zeros(n)
    now, active = np.zeros(n), np.ones(n, dtype=bool)
    while active.any():
        idx = np.flatnonzero(active)
        now[idx] += rng.exponential(1 / rate[idx])
        in_calibration = now[idx] <= T[idx]
        in_holdout = (now[idx] > T[idx]) & (now[idx] <= T[idx] + horizon)
        x[idx[in_calibration]] += 1
        t_x[idx[in_calibration]] = now[idx[in_calibration]]
        holdout[idx[in_holdout]] += 1
        bought = in_calibration | in_holdout
        active[idx[~bought]] = False
        active[idx[bought & (rng.random(len(idx)) < drop[idx])]] = False
    return pd.DataFrame({"x": x, "t_x": t_x, "T": T, "holdout": holdout})


def test_conditional_expectation_reproduces_the_papers_worked_example() -> None:
    # BG/NBD paper, section 4: x = 2, t_x = 30.43, T = 38.86 weeks -> 1.226 purchases in 39 weeks
    expected = bgnbd_expected_purchases(CDNOW, 39, np.array([2]), np.array([30.43]), np.array([38.86]))
    assert expected[0] == pytest.approx(1.226, abs=5e-4)


def test_euler_transformed_expectation_equals_the_untransformed_formula() -> None:
    r, alpha, a, b = CDNOW.r, CDNOW.alpha, CDNOW.a, CDNOW.b
    for x, t_x, T, t in [(0, 0.0, 20.0, 10.0), (1, 5.0, 30.0, 39.0), (7, 29.4, 38.9, 52.0)]:
        z = t / (alpha + T + t)
        survival = ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z)
        numerator = (a + b + x - 1) / (a - 1) * (1 - survival)
        denominator = 1 + (x > 0) * a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x)
        got = bgnbd_expected_purchases(CDNOW, t, np.array([x]), np.array([t_x]), np.array([T]))[0]
        assert got == pytest.approx(numerator / denominator, rel=1e-9)


def test_expectation_stays_finite_for_very_frequent_buyers() -> None:
    x = np.array([50, 200, 400])
    expected = bgnbd_expected_purchases(TRUE, 90, x, np.array([300.0] * 3), np.array([301.0] * 3))
    assert np.all(np.isfinite(expected))
    assert np.all(np.diff(expected) > 0)  # more purchases, same recency: more expected


def test_bgnbd_fit_recovers_the_parameters_of_simulated_customers() -> None:
    T = np.random.default_rng(1).uniform(100, 365, 8000).round()
    data = simulate_bgnbd(TRUE, T, horizon=90, seed=2)
    fitted = fit_bgnbd(data["x"], data["t_x"], data["T"])
    for name in ("r", "alpha", "a", "b"):
        assert getattr(fitted, name) == pytest.approx(getattr(TRUE, name), rel=0.25), name
    x, t_x = data["x"].to_numpy(), data["t_x"].to_numpy()
    assert bgnbd_log_likelihood(fitted, x, t_x, T).sum() >= bgnbd_log_likelihood(TRUE, x, t_x, T).sum()


def test_bgnbd_predicts_the_holdout_purchases_of_simulated_customers() -> None:
    T = np.random.default_rng(3).uniform(100, 365, 8000).round()
    data = simulate_bgnbd(TRUE, T, horizon=90, seed=4)
    fitted = fit_bgnbd(data["x"], data["t_x"], data["T"])
    predicted = bgnbd_expected_purchases(fitted, 90, data["x"], data["t_x"], data["T"])
    assert predicted.sum() == pytest.approx(data["holdout"].sum(), rel=0.05)
    frequent = data["x"] >= 5
    assert predicted[frequent].mean() == pytest.approx(data.loc[frequent, "holdout"].mean(), rel=0.15)


def test_gamma_gamma_fit_recovers_the_parameters_of_simulated_spend() -> None:
    rng = np.random.default_rng(5)
    true = GammaGammaParams(p=6.0, q=3.0, v=20.0)
    n = 6000
    x = rng.integers(1, 12, n)
    scale = rng.gamma(true.q, 1 / true.v, n)  # nu per customer
    mean_spend = np.array([rng.gamma(true.p, 1 / nu, k).mean() for nu, k in zip(scale, x, strict=True)])
    fitted = fit_gamma_gamma(x, mean_spend)
    assert fitted.p == pytest.approx(true.p, rel=0.15)
    assert fitted.mean_spend == pytest.approx(true.mean_spend, rel=0.05)
    # expected spend shrinks a customer's own mean towards the population mean, more so with fewer purchases
    one, many = gamma_gamma_expected_spend(fitted, np.array([1, 10]), np.array([200.0, 200.0]))
    assert fitted.mean_spend < one < many < 200.0


def test_rfm_summary_counts_repeat_purchases_and_averages_their_value() -> None:
    invoices = pd.DataFrame(
        {
            "customer_id": pd.Categorical(["a", "a", "a", "b", "a"]),
            "invoice_no": ["1", "2", "3", "4", "9"],
            "day": [10, 15, 15, 12, 40],
            "invoice_ts": pd.to_datetime(
                ["2011-01-01 10:00", "2011-01-06 09:00", "2011-01-06 12:00", "2011-01-03 08:00", "2011-02-01 08:00"]
            ),
            "purchase_value": [100.0, 20.0, 40.0, 5.0, 999.0],
            "is_purchase": [True, True, True, True, True],
        }
    )
    invoices = invoices.sort_values(["customer_id", "day", "invoice_ts", "invoice_no"])  # as OrderHistory keeps them
    summary = rfm_summary(invoices, today=30)  # the day-40 purchase is in the future
    assert summary.loc["a"].tolist() == [2, 5, 20, 30.0]
    assert summary.loc["b", "x"] == 0 and np.isnan(summary.loc["b", "repeat_mean_spend"])


def test_fitted_model_predicts_more_for_recent_frequent_customers() -> None:
    T = np.random.default_rng(6).uniform(100, 365, 4000).round()
    data = simulate_bgnbd(TRUE, T, horizon=90, seed=7)
    summary = data[["x", "t_x", "T"]].assign(repeat_mean_spend=np.where(data["x"] > 0, 30.0 + data["x"], np.nan))
    model = fit_clv(summary)
    probe = pd.DataFrame(
        {"x": [10, 10, 0], "t_x": [299, 50, 0], "T": [300, 300, 300], "repeat_mean_spend": [40.0, 40.0, np.nan]}
    )
    prediction = model.predict(probe, 90)
    assert prediction["expected_purchases"].iloc[0] > prediction["expected_purchases"].iloc[1]
    assert prediction["expected_spend"].iloc[0] > prediction["expected_spend"].iloc[2]
