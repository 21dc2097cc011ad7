"""Every intervention lmclaims runs, in one package (the engine alone applies them).

An intervention is a frozen dataclass with a ``name``, ``params()`` (recorded in cache keys and
verdicts) and a ``hooks(adapter)`` context manager that the engine enters around a pass:

====================================  =====================================================================
:mod:`~.base`                         ``Intervention`` (edits at named sites), ``NoIntervention``,
                                      ``current_text_ids`` (the engine's per-batch text ids, for seeding)
:mod:`~.activations`                  edits of the residual stream at ``resid_post.{l}``: ``SkipBlock``,
                                      ``ScaleBlockOutput``, ``MeanAblateBlock``, ``ResidualNoise``
:mod:`~.weights`                      weight writers that restore bit for bit: ``replaced_parameters``,
                                      ``swapped_weights``, ``NeighbourAverageBlock``, ``SwapWeights``,
                                      ``ManipulateWeights`` (five strategies at matched strength)
:mod:`~.predicted`                    substitutions computed from the model's own weights:
                                      ``PredictedWeights``, ``MatchedNoiseWeights``, ``NeighbourWeights``
====================================  =====================================================================

Activation edits are ``(site, fn)`` pairs (:mod:`lmclaims.models.sites`) registered and removed by
:mod:`lmclaims.engine.hooks`; weight interventions register no hooks at all.

>>> from lmclaims.engine.interventions import SkipBlock, ManipulateWeights
>>> SkipBlock(3).describe()
{'name': 'skip_block', 'layer': 3}
>>> ManipulateWeights("scale", 0.1).describe()["strategy"]
'scale'
"""

from lmclaims.engine.interventions.activations import MeanAblateBlock, ResidualNoise, ScaleBlockOutput, SkipBlock
from lmclaims.engine.interventions.base import Intervention, NoIntervention, current_text_ids
from lmclaims.engine.interventions.predicted import (MatchedNoiseWeights, NeighbourWeights, PredictedWeights,
                                                     matrix_names, predicted_matrices)
from lmclaims.engine.interventions.weights import (STRATEGIES, ManipulateWeights, NeighbourAverageBlock, SwapWeights,
                                                   achieved_strength, manipulated_weight, neighbour_average_state,
                                                   replaced_parameters, swapped_weights)

__all__ = ["Intervention", "NoIntervention", "current_text_ids", "SkipBlock", "ScaleBlockOutput", "MeanAblateBlock",
           "ResidualNoise", "replaced_parameters", "swapped_weights", "NeighbourAverageBlock", "SwapWeights",
           "ManipulateWeights", "STRATEGIES", "manipulated_weight", "achieved_strength", "neighbour_average_state",
           "PredictedWeights", "MatchedNoiseWeights", "NeighbourWeights", "matrix_names", "predicted_matrices"]
