"""Typed, validated settings of the recommender: every knob a run can change, with its default.

Defaults were chosen on validation data before October 2011 (see bench/recommender); a DAG run can
override any field through its `params`, and a typo or a wrong type fails at load naming the field.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ComponentName = Literal["popularity", "repeat", "ease", "transition", "bpr", "sasrec"]
ALL_COMPONENTS: tuple[ComponentName, ...] = ("popularity", "repeat", "ease", "transition", "bpr", "sasrec")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PopularityParams(_Strict):
    window_days: int = Field(7, ge=0, description="count buyers of the last N days; 0 = all history")


class RepeatParams(_Strict):
    half_life_days: float = Field(180.0, gt=0, description="a purchase this old counts half")


class EaseParams(_Strict):
    l2: float = Field(300.0, gt=0, description="ridge penalty of the item-item regression")
    input_half_life_days: float | None = Field(
        None, gt=0, description="decay the customer's older purchases when scoring; None = all count 1"
    )


class TransitionParams(_Strict):
    windows: int = Field(8, ge=1, description="training cutoffs, stepping back from the as-of date")
    window_days: int = Field(28, ge=1, description="days after each cutoff whose purchases are the target")
    l2: float = Field(200.0, gt=0)
    decay: float = Field(0.3, ge=0, description="the k-th most recent cutoff weighs exp(-decay * k)")


class BprParams(_Strict):
    dim: int = Field(64, ge=2)
    epochs: int = Field(20, ge=1)
    batch_size: int = Field(4096, ge=1)
    lr: float = Field(0.01, gt=0)
    l2: float = Field(1e-5, ge=0)


class SasrecParams(_Strict):
    dim: int = Field(64, ge=8)
    heads: int = Field(2, ge=1)
    blocks: int = Field(2, ge=1)
    max_len: int = Field(50, ge=2, description="most recent purchases the model reads")
    dropout: float = Field(0.2, ge=0, lt=1)
    epochs: int = Field(4, ge=1)
    batch_size: int = Field(128, ge=1)
    lr: float = Field(1e-3, gt=0)
    negatives: int = Field(512, ge=0, description="sampled negatives per batch; 0 = softmax over all items")

    @model_validator(mode="after")
    def _heads_divide_dim(self) -> SasrecParams:
        if self.dim % self.heads:
            raise ValueError(f"sasrec.dim ({self.dim}) must be a multiple of sasrec.heads ({self.heads})")
        return self


class BlendParams(_Strict):
    weights: dict[ComponentName, float] | None = Field(
        None, description="fixed component weights; None = tune them on the validation window"
    )
    grid: tuple[float, ...] = Field(
        (0.0, 0.25, 0.5, 1.0, 2.0, 4.0), description="candidate weights tried per component when tuning"
    )


class RecommenderParams(_Strict):
    components: tuple[ComponentName, ...] = ALL_COMPONENTS
    interaction_weight: Literal["binary", "log1p_quantity"] = "binary"
    validation_days: int = Field(28, ge=1, description="tuning window: the last N days before the as-of date")
    seed: int = 42
    device: Literal["auto", "cpu", "cuda"] = "auto"
    cpu_threads: int | None = Field(1, ge=1, description="torch threads for CPU work; None = torch's default")
    popularity: PopularityParams = PopularityParams()
    repeat: RepeatParams = RepeatParams()
    ease: EaseParams = EaseParams()
    transition: TransitionParams = TransitionParams()
    bpr: BprParams = BprParams()
    sasrec: SasrecParams = SasrecParams()
    blend: BlendParams = BlendParams()

    @model_validator(mode="after")
    def _components_are_usable(self) -> RecommenderParams:
        if not self.components:
            raise ValueError("components: name at least one model")
        if len(set(self.components)) != len(self.components):
            raise ValueError(f"components: {list(self.components)} names a model twice")
        if "popularity" not in self.components:
            raise ValueError("components: 'popularity' is required, it is the cold-start fallback")
        if self.blend.weights is not None and set(self.blend.weights) != set(self.components):
            raise ValueError(
                f"blend.weights: give one weight per component {sorted(self.components)}, "
                f"got {sorted(self.blend.weights)}"
            )
        return self
