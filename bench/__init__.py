"""Benchmarks for incidentgraph: `python -m bench` runs them all and writes docs/benchmarks.md.

One module per benchmark (`fanout`, `dashboard`, `statements`, `boards`, `alerts`,
`schedulers`); each is also runnable
alone, e.g. `python -m bench fanout --sizes 100,1000`.
"""
