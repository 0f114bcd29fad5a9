"""Typed, validated settings of the recommender: every knob a run can change, with its default.

Defaults were chosen on validation data before October 2011 (see bench/recommender); a DAG run can
override any field through its `params`, and a typo or a wrong type fails at load naming the field.
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

ComponentName = Literal[
    "popularity", "repeat", "ease", "transition", "bpr", "sasrec", "content", "lightgcn", "item2vec", "gru4rec", "rebuy",
    "ranker",
]
#: every component the library has (the zoo); bench/recommender measures each alone
COMPONENT_NAMES: tuple[ComponentName, ...] = get_args(ComponentName)
#: those a blend trains unless told otherwise. Chosen on the shop's data (README "Which components
#: serve"): the ranker (LightGBM over past items and transition's top new ones, which reads the
#: repeat, rebuy, transition and EASE signals as features) with BPR, content and popularity beside it
#: scored best on the tuning objective as of 2011-09-03 and 2011-10-01; EASE stays for tables without
#: time order, where the ranker has nothing to learn from (the tuning gives it weight there)
DEFAULT_COMPONENTS: tuple[ComponentName, ...] = ("popularity", "ease", "ranker", "bpr", "content")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PopularityParams(_Strict):
    window_days: int = Field(7, ge=0, description="count buyers of the last N days; 0 = all history")


class RepeatParams(_Strict):
    half_life_days: float = Field(180.0, gt=0, description="a purchase this old counts half")


class BoostedParams(_Strict):
    """What the LightGBM components (rebuy, ranker) share: cutoffs to learn at, and the trees."""

    windows: int = Field(6, ge=1, description="training cutoffs, stepping back from the as-of date")
    window_days: int = Field(28, ge=1, description="days after each cutoff whose purchases are the label")
    rounds: int = Field(200, ge=1, description="boosting rounds")
    learning_rate: float = Field(0.05, gt=0)
    num_leaves: int = Field(31, ge=2)
    min_data_in_leaf: int = Field(50, ge=1)


class RebuyParams(BoostedParams):
    """Rebuy's label is a re-purchase: its candidates are the customer's past items only."""


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


class RankerParams(BoostedParams):
    rounds: int = Field(300, ge=1, description="boosting rounds")
    new_candidates: int = Field(50, ge=0, description="never-bought items per customer it ranks (transition's top)")
    ease_l2: float = Field(300.0, gt=0, description="ridge penalty of the EASE model whose scores are a feature")
    transition: TransitionParams = Field(
        TransitionParams(), description="the next-window regression that picks the new candidates and scores them"
    )


class BprParams(_Strict):
    dim: int = Field(128, ge=2)
    epochs: int = Field(100, ge=1)
    batch_size: int = Field(4096, ge=1, description="samples per SGD step; the loss is summed, not averaged")
    lr: float = Field(0.01, gt=0, description="plain SGD: how far each sample moves the rows it touches")
    l2: float = Field(1e-3, ge=0, description="per-sample penalty on the customer, item and bias rows it touches")


class LightgcnParams(_Strict):
    dim: int = Field(64, ge=2)
    layers: int = Field(2, ge=0, description="propagation steps over the customer-item graph; 0 = plain BPR")
    epochs: int = Field(30, ge=1)
    batch_size: int = Field(8192, ge=1, description="every step propagates the whole graph: large batches pay")
    lr: float = Field(0.01, gt=0, description="Adam's learning rate")
    l2: float = Field(1e-4, ge=0, description="penalty on the batch's layer-0 vectors")
    popular_negatives: bool = Field(False, description="negatives drawn by popularity (as BPR's); False = uniformly")


class Item2vecParams(_Strict):
    sentence: Literal["sequence", "basket"] = Field(
        "sequence", description="a 'sentence' is the customer's purchase sequence, or one invoice's items"
    )
    dim: int = Field(64, ge=2)
    window: int = Field(10, ge=1, description="context purchases each side; one larger than any basket makes it a set")
    epochs: int = Field(10, ge=1)
    negative: int = Field(5, ge=1, description="negative samples per positive pair")
    ns_exponent: float = Field(0.75, description="negatives drawn with frequency ** ns_exponent")
    half_life_days: float | None = Field(
        60.0, gt=0, description="a purchase this old counts half in the customer's vector; None = all count 1"
    )


#: the sequence models' 30 epochs let early stopping end the fit (after 15-17 epochs on the shop,
#: 145-235 s on one CPU thread with the defaults)
_EPOCHS = "at most; training stops earlier when the held-out last purchases stop improving"


_TARGETS = (
    "next: every next purchase is a target; new: only purchases of items not earlier in the window, ranked "
    "with those items masked (what the 'new' evaluation variant rewards), and validated the same way; future: "
    "as new, the target drawn from all later purchases of the window new to the prefix, not only the next"
)


_DISTINCT = "read and learn each customer's sequence of distinct items (first purchases only), so max_len spans more history"


_RECENT_DAYS = (
    "each logit adds a learned weight x log(1 + the item's buyers on the N days before the day of the purchase "
    "it learns, or of the as-of date when it scores; a customer counts once a day); 0 = none"
)
_WEIGHT_DECAY = "AdamW's decoupled weight decay"
_LR_DECAY = "multiply the learning rate by this after each epoch without a better validation NDCG@10; None = constant"
_MIN_EPOCHS = (
    "epochs trained before a plateau may cut the learning rate or stop training: the first epochs sit on a low "
    "plateau of the validation score, whose noise would otherwise end the fit there"
)


class SasrecParams(_Strict):
    """Defaults: what scored best on "new" on the shop (the blend's other components cover re-orders):
    distinct items, "future" targets, the last 150, dropout 0.6, AdamW weight decay 0.2, the learning
    rate cut to 0.3x on each plateau, the recent buyers of 7 days in the output (see recommend/README.md);
    the textbook next-item SASRec is targets="next", distinct=False, max_len=50, dropout=0.2, epochs=4,
    lr=0.002, weight_decay=0, lr_decay=None, recent_days=0."""

    dim: int = Field(64, ge=8)
    heads: int = Field(2, ge=1)
    blocks: int = Field(2, ge=1)
    max_len: int = Field(150, ge=2, description="most recent purchases the model reads")
    dropout: float = Field(0.6, ge=0, lt=1, description="0.6 beat 0.2, 0.4 and 0.75 on the shop's \"new\"")
    epochs: int = Field(30, ge=1, description=_EPOCHS)
    patience: int = Field(3, ge=1, description="stop after N epochs without a better validation NDCG@10")
    min_epochs: int = Field(6, ge=1, description=_MIN_EPOCHS)
    batch_size: int = Field(32, ge=1, description="windows per step; small batches learn in fewer epochs")
    lr: float = Field(4e-3, gt=0)
    weight_decay: float = Field(0.2, ge=0, description=_WEIGHT_DECAY + "; 0.2 scored best of 0-0.5 on the shop's \"new\", by less than the seeds' spread")
    lr_decay: float | None = Field(0.3, gt=0, lt=1, description=_LR_DECAY)
    negatives: int = Field(0, ge=0, description="sampled negatives per batch; 0 = softmax over all items")
    targets: Literal["next", "new", "future"] = Field("future", description=_TARGETS)
    distinct: bool = Field(True, description=_DISTINCT)
    recent_days: int = Field(7, ge=0, description=_RECENT_DAYS)

    @model_validator(mode="after")
    def _heads_divide_dim(self) -> SasrecParams:
        if self.dim % self.heads:
            raise ValueError(f"sasrec.dim ({self.dim}) must be a multiple of sasrec.heads ({self.heads})")
        return self


class Gru4recParams(_Strict):
    """Defaults as SASRec's: distinct items, "future" targets, the last 150, the recent buyers of 7 days
    in the output, but dropout 0.4, no weight decay and a constant learning rate (SASRec's two were
    measured on SASRec only); the textbook GRU4Rec is targets="next", distinct=False, max_len=50,
    dropout=0.2, epochs=4, recent_days=0."""

    dim: int = Field(64, ge=2)
    layers: int = Field(1, ge=1)
    dropout: float = Field(0.4, ge=0, lt=1, description="0.4 matched 0.6 and beat 0.2 on the shop's \"new\"")
    max_len: int = Field(150, ge=2, description="most recent purchases the model reads")
    epochs: int = Field(30, ge=1, description=_EPOCHS)
    patience: int = Field(3, ge=1, description="stop after N epochs without a better validation NDCG@10")
    min_epochs: int = Field(6, ge=1, description=_MIN_EPOCHS)
    batch_size: int = Field(32, ge=1, description="windows per step; small batches learn in fewer epochs")
    lr: float = Field(3e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0, description=_WEIGHT_DECAY)
    lr_decay: float | None = Field(None, gt=0, lt=1, description=_LR_DECAY)
    targets: Literal["next", "new", "future"] = Field("future", description=_TARGETS)
    distinct: bool = Field(True, description=_DISTINCT)
    recent_days: int = Field(7, ge=0, description=_RECENT_DAYS)


class ValidationParams(_Strict):
    """How blend weights are validated (see recommend/validation.py for the rule "auto" applies)."""

    kind: Literal["auto", "temporal", "random"] = Field(
        "auto", description="temporal: the last `days`; random: a per-customer hold-out; auto: chosen from the data"
    )
    days: int = Field(28, ge=1, description="temporal window: the last N days before the as-of date")
    min_customers: int = Field(200, ge=1, description="auto: returning customers the window needs")
    min_share: float = Field(
        0.05, ge=0, le=1, description="auto: ... and as a share of the customers with history before it"
    )
    holdout_share: float = Field(0.25, gt=0, lt=1, description="random: share of each customer's items held out")


class ContentParams(_Strict):
    half_life_days: float | None = Field(
        14.0, gt=0, description="a purchase this old counts half in the customer's taste; None = all count 1"
    )


_SEEN_ITEMS = (
    "where items the customer already bought go in the ranking: rank = scored like any other; last = after "
    "every item they never bought (ratings tables, where nobody rates an item twice); auto = whichever scores "
    "better on the tuning split (rank when the weights are fixed)"
)


class BlendParams(_Strict):
    weights: dict[ComponentName, float] | None = Field(
        None, description="fixed component weights; None = tune them on the validation window"
    )
    seen_items: Literal["auto", "rank", "last"] = Field("auto", description=_SEEN_ITEMS)
    grid: tuple[float, ...] = Field(
        (0.0, 0.25, 0.5, 1.0, 2.0, 4.0), description="candidate weights tried per component when tuning"
    )


class RecommenderParams(_Strict):
    components: tuple[ComponentName, ...] = DEFAULT_COMPONENTS
    interaction_weight: Literal["binary", "log1p_quantity"] = "binary"
    validation: ValidationParams = ValidationParams()
    seed: int = 42
    device: Literal["auto", "cpu", "cuda"] = "auto"
    cpu_threads: int | None = Field(1, ge=1, description="torch threads for CPU work; None = torch's default")
    popularity: PopularityParams = PopularityParams()
    repeat: RepeatParams = RepeatParams()
    rebuy: RebuyParams = RebuyParams()
    ranker: RankerParams = RankerParams()
    ease: EaseParams = EaseParams()
    transition: TransitionParams = TransitionParams()
    bpr: BprParams = BprParams()
    sasrec: SasrecParams = SasrecParams()
    gru4rec: Gru4recParams = Gru4recParams()
    content: ContentParams = ContentParams()
    lightgcn: LightgcnParams = LightgcnParams()
    item2vec: Item2vecParams = Item2vecParams()
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
