"""Implementation of the lmclaims pytest plugin (entry module: :mod:`lmclaims.plugin`).

Modules, one job each:

* ``options``   — command-line options, the active :class:`~lmclaims.stats.profiles.ClaimSettings`, header.
* ``claims``    — the ``claim`` marker (:class:`ClaimSpec`) and family sizes known at collection.
* ``recorder``  — the ``verdict`` fixture object (:class:`VerdictRecorder`).
* ``outcomes``  — verdicts -> pytest outcome (pass / fail / skip / error) and failure messages.
* ``baseline``  — the ``--claims-baseline`` gate and the ``--claims-compare`` diff.
* ``collector`` — controller-side collection of verdicts from ``report.user_properties``.
* ``session_report`` — ``claims.json`` (schema: ``lmclaims/report/SCHEMA.md``) and the HTML call.
* ``terminal``  — the terminal summary table.
"""
