"""Root conftest: wires the model panel fixtures (fixtures/models.py) into every test directory.

The claims plugin itself (markers, verdict fixture, reports) is the ``lmclaims`` pytest11 entry
point (lmclaims/plugin.py), active wherever lmclaims is installed.
"""

pytest_plugins = ["fixtures.models"]
