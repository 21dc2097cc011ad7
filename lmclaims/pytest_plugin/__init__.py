"""Implementation of the lmclaims pytest plugin (entry module: :mod:`lmclaims.plugin`).

Modules, one job each:

* ``options``   — command-line options (validated at configure time), the active
  :class:`~lmclaims.stats.profiles.ClaimSettings`, header.
* ``run_settings`` — :class:`RunSettings`: every setting that changes a number; reproduce commands.
* ``claims``    — the ``claim`` marker (:class:`ClaimSpec`) and family sizes known at collection.
* ``recorder``  — the ``verdict`` fixture object (:class:`VerdictRecorder`).
* ``outcomes``  — verdicts -> pytest outcome (pass / fail / skip / error) and failure messages.
* ``baseline``  — the ``--claims-baseline`` gate (status, direction, keys, settings), the merged
  ``--claims-update-baseline`` and the ``--claims-compare`` diff.
* ``families``  — session-end corrections: per family (padded to m) and the suite-level BH line.
* ``collector`` — controller-side collection of verdicts from ``report.user_properties``.
* ``session_report`` — ``claims.json`` (schema: ``lmclaims/report/SCHEMA.md``), written atomically
  and only for finished runs (else ``claims.partial.json``), and the HTML call.
* ``terminal``  — the terminal summary table.
"""
