"""One module per recommender component; `build` makes one from the run's parameters."""

from __future__ import annotations

import torch

from marketflow.recommend.models.base import Component
from marketflow.recommend.models.bpr import Bpr
from marketflow.recommend.models.content import Content
from marketflow.recommend.models.ease import Ease
from marketflow.recommend.models.gru4rec import Gru4Rec
from marketflow.recommend.models.item2vec import Item2Vec
from marketflow.recommend.models.lightgcn import LightGcn
from marketflow.recommend.models.popularity import Popularity
from marketflow.recommend.models.ranker import Ranker
from marketflow.recommend.models.rebuy import Rebuy
from marketflow.recommend.models.repeat import RepeatPurchase
from marketflow.recommend.models.sasrec import SasRec
from marketflow.recommend.models.transition import Transition
from marketflow.recommend.params import ComponentName, RecommenderParams

COMPONENTS: dict[str, type[Component]] = {
    cls.name: cls for cls in (Popularity, RepeatPurchase, Ease, Transition, Bpr, SasRec, Content, LightGcn, Item2Vec, Gru4Rec, Rebuy, Ranker)
}


def build(name: ComponentName, params: RecommenderParams, device: torch.device) -> Component:
    """The component `name`, configured by its section of `params`."""
    return COMPONENTS[name](getattr(params, name), device, params.seed)


__all__ = ["COMPONENTS", "Component", "build"]
