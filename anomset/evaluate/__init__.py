"""Evaluation: metrics, reference detectors (fit / score) and exports for the tools users already run.

Reads built folders through ``anomset.dataset`` only; never imports the build.
"""
