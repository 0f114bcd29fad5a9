"""Purchase propensity: the probability that a customer buys in the next 30 days.

Features are the profile stage's point-in-time snapshot as of a cut-off D; the label is a purchase
invoice in D+1..D+30. Several weekly cut-offs are stacked to train a seeded LightGBM model, which is
Platt-calibrated on the latest cut-offs and scored per customer shard by the `score_audiences` DAG.
How it was chosen and how it compares with the baselines: README.md next to this file.

On a plain orders DataFrame (no warehouse): `marketflow.propensity.library.train` and `.score`.
"""
