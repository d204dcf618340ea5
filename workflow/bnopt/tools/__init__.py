"""Benchmarks and cost reports behind ``python -m bnopt``: training throughput
(:mod:`.bench`, :mod:`.benchdln`), surface points per second (:mod:`.benchsurface`),
the probes' cost in a finished workflow (:mod:`.costs`)."""
