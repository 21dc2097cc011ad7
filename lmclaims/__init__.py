"""lmclaims: published claims about transformer internals as statistically honest pytest tests.

Two halves that never mix: measurement (``lmclaims.models``, ``lmclaims.engine``,
``lmclaims.probes``, ``lmclaims.cache``) and judgement (``lmclaims.stats``, ``lmclaims.plugin``,
``lmclaims.report``). ``lmclaims.stats`` imports no torch.
"""

__version__ = "0.1.0"
