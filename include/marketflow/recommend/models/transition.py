"""Next-window regression: EASE's closed form, trained to predict the next four weeks' purchases.

EASE regresses a customer's items on themselves (diagonal forced to zero), which ignores time.
Here the inputs are a customer's purchase counts (log1p) before a cutoff and the targets the items
they bought in the `window_days` after it, stacked over `windows` cutoffs stepping back from the
as-of date (recent cutoffs weigh more). The diagonal is free, so the model learns how likely each
item is to be re-bought as well as what follows what: the task the shop's e-mails face.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy import sparse

from marketflow.recommend.interactions import History
from marketflow.recommend.models.base import Component, target_windows
from marketflow.recommend.params import TransitionParams


def log_counts(history: History, before_seconds: float | None = None) -> sparse.csr_matrix:
    """users x items: log1p(number of purchases) before `before_seconds` (all when None)."""
    keep = slice(None) if before_seconds is None else history.seconds < before_seconds
    counts = sparse.csr_matrix(
        (np.ones(len(history.user[keep]), np.float32), (history.user[keep], history.item[keep])),
        shape=(history.n_users, history.n_items),
    )
    counts.sum_duplicates()
    counts.data = np.log1p(counts.data)
    return counts


class Transition(Component):
    name = "transition"
    params: TransitionParams

    def fit(self, history: History) -> None:
        p = self.params
        gram = torch.zeros((history.n_items, history.n_items), dtype=torch.float64, device=self.device)
        cross = torch.zeros_like(gram)
        with self.throughput.timing():
            for k, start, in_window, buyers in target_windows(history, p.windows, p.window_days):
                inputs = log_counts(history, start)[buyers]
                targets = sparse.csr_matrix(
                    (np.ones(in_window.sum(), np.float32), (history.user[in_window], history.item[in_window])),
                    shape=(history.n_users, history.n_items),
                )[buyers]
                targets.sum_duplicates()
                targets.data[:] = 1.0
                weight = float(np.exp(-p.decay * k))
                gram += weight * torch.from_numpy((inputs.T @ inputs).toarray()).to(self.device, torch.float64)
                cross += weight * torch.from_numpy((inputs.T @ targets).toarray()).to(self.device, torch.float64)
                self.throughput.samples += int(in_window.sum())
            gram.diagonal().add_(p.l2)
            factor = torch.linalg.cholesky(gram)  # symmetric positive definite: Cholesky, not LU
            self.weights = torch.cholesky_solve(cross, factor).to(torch.float32).cpu().numpy()

    def score(self, history: History, rows: np.ndarray) -> np.ndarray:
        return np.asarray(log_counts(history)[rows] @ self.weights, dtype=np.float32)

    def associations(self) -> np.ndarray:
        return self.weights

    def state(self) -> dict[str, Any]:
        return {"weights": torch.from_numpy(self.weights)}

    def load_state(self, state: dict[str, Any]) -> None:
        self.weights = state["weights"].numpy()
