"""Judgement: result objects and statistical assertions. Imports no torch, no models."""

from lmclaims.stats.evidence import ConfidenceInterval, Evidence, Status, Verdict

__all__ = ["ConfidenceInterval", "Evidence", "Status", "Verdict"]
