"""Helpers shared by the tests (no tests here): ports, receivers, workers, waiting, prerequisites.

Tests reach the conftest's objects through fixtures, and these modules through plain imports.
"""
