"""Test-suite settings: property-based tests draw the same examples in every run (derandomised
Hypothesis, no example database), so the suite passes or fails the same way each time."""

from hypothesis import settings

settings.register_profile("stegavox", derandomize=True, database=None, deadline=None)
settings.load_profile("stegavox")
