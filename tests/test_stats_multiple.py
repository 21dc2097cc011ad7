"""Multiple-comparison adjustment and profiles."""

import numpy as np
import pytest

from lmclaims.stats.multiple import adjust, bonferroni_level
from lmclaims.stats.profiles import default_profile_name, get_profile


def test_holm_by_hand():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted: .005*4=.02, .01*3=.03, .03*2=.06, .04*1=.04 -> running max .02 .03 .06 .06
    assert adjust(p, "holm") == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_bh_by_hand():
    p = [0.01, 0.04, 0.03, 0.005]
    # sorted .005,.01,.03,.04 -> *4/rank: .02 .02 .04 .04 (min from the right)
    assert adjust(p, "fdr_bh") == pytest.approx([0.02, 0.04, 0.04, 0.02])


def test_none_entries_are_left_out_of_the_family():
    assert adjust([0.01, None, float("nan"), 0.02], "holm") == pytest.approx([0.02, None, None, 0.02])
    assert adjust([0.2, None], "none") == [0.2, None]
    with pytest.raises(ValueError):
        adjust([0.1], "bonferonni")
    with pytest.raises(ValueError):
        adjust([1.5], "holm")


def test_adjusted_never_exceeds_bonferroni():
    p = np.random.default_rng(0).uniform(0, 0.2, 25)
    for method in ("holm", "fdr_bh"):
        assert np.all(np.array(adjust(p, method)) <= np.minimum(1, 25 * p) + 1e-12)


def test_bonferroni_level():
    assert bonferroni_level(0.95, 10) == pytest.approx(0.995)
    assert bonferroni_level(0.95, 10, "none") == 0.95


def test_profiles():
    assert get_profile("dev").n_resamples == 999 and get_profile("dev").max_texts == 64
    assert get_profile("ci").n_resamples == 4999
    assert default_profile_name({"CI": "true"}) == "ci" and default_profile_name({}) == "dev"
    with pytest.raises(KeyError, match="Did you mean 'dev'"):
        get_profile("dve")


def test_holm_is_statsmodels_holm_without_its_explicit_gc_collect(monkeypatch):
    """statsmodels' Holm branch calls gc.collect() (~40 ms with torch loaded); `corrected` suppresses
    only that call, returns statsmodels' numbers, and puts gc.collect back."""
    import gc

    from statsmodels.stats.multitest import multipletests

    from lmclaims.stats.multiple import corrected
    calls = []
    counting = lambda *a, **k: calls.append(1) or 0  # noqa: E731
    monkeypatch.setattr(gc, "collect", counting)
    p = [0.001, 0.2, 0.013, 0.04, 0.5]
    got = corrected(p, "holm")
    assert calls == [] and gc.collect is counting
    want = multipletests(p, method="holm")[1]
    assert calls == [1]                      # statsmodels does call it; corrected did not
    np.testing.assert_allclose(got, want, rtol=0, atol=0)
