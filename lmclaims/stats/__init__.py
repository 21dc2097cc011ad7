"""Judgement: result objects and statistical assertions. Imports no torch, no models."""

from lmclaims.stats.evidence import (ConfidenceInterval, Evidence, Judgement, Measurement, Status, Verdict,
                                     worst_status)

__all__ = ["ConfidenceInterval", "Evidence", "Judgement", "Measurement", "Status", "Verdict", "worst_status"]
