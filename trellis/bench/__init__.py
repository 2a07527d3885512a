"""Benchmarks and load generators (``python -m trellis.bench.latency``). Figures are printed as JSON.

May import: everything below ``cli``.
"""
