"""bnopt: reproduce "How Does Batch Normalization Help Optimization?" (Santurkar et al., 2018).

The science lives in wings that follow the workflow's DAG, each of small modules
with one job:

- :mod:`bnopt.seeding`   pure (seed, purpose, step, ...) -> RNG seeds
- :mod:`bnopt.runs`      config -> the set of runs (and their recipes), paths, specs and code
  fingerprints
- :mod:`bnopt.jobs`      runs -> jobs: the DLN's stacks of seeds, probe segments
- :mod:`bnopt.checks`    config checks that fail before any job, one line naming the key
- :mod:`bnopt.norms`     the normalization variants and which modules each uses, one
  module per family: :mod:`~bnopt.norms.noise` (Algorithm 1's noise),
  :mod:`~bnopt.norms.lp` (l_p normalization), :mod:`~bnopt.norms.channels` (per-channel helpers)
- :mod:`bnopt.nets`      :mod:`~bnopt.nets.models`: VGG and the deep linear network, the
  Glorot initializations
- :mod:`bnopt.training`  :mod:`~bnopt.training.data` (CIFAR-10 download/verification,
  digits, DLN data), :mod:`~bnopt.training.problems` (device-resident data, losses, the
  minibatch of step t), :mod:`~bnopt.training.optim` and :mod:`~bnopt.training.recipe`
  (a run's optimizer, init and loss, and the token naming them),
  :mod:`~bnopt.training.engine` (what steps: one nn.Module), :mod:`~bnopt.training.stacked`
  (many DLN runs as one), :mod:`~bnopt.training.checkpoints`, :mod:`~bnopt.training.train`
  (the deterministic, resumable loop)
- :mod:`bnopt.measure`   :mod:`~bnopt.measure.probes` (landscape, ICS, activations,
  curvature at one step), :mod:`~bnopt.measure.replay` (the probe job: exact replay with
  measurements switched on), :mod:`~bnopt.measure.surface` (2D loss surfaces, 1D lines)
- :mod:`bnopt.analysis`  :mod:`~bnopt.analysis.tables` (tidy tables from every run),
  :mod:`~bnopt.analysis.claims` (the paper's claims, seed by seed, by explicit rules),
  :mod:`~bnopt.analysis.sensitivity` (learning-rate ranges, claim 6),
  :mod:`~bnopt.analysis.scorecard` (the paper's numbers beside this config's),
  :mod:`~bnopt.analysis.draws` (where they fall among many draws),
  :mod:`~bnopt.analysis.figures` (the report's figures and captions, one module per group
  of the paper's figures), :mod:`~bnopt.analysis.report` (the report notebook's helpers:
  the claims matrix, the scorecard)
- :mod:`bnopt.tools`     benchmarks and cost reports, the paper's digitized curves, the
  draws summary
- :mod:`bnopt.cli`       ``python -m bnopt``: train, bench-train, bench-probes, bench-surface, typical,
  digitize
"""

__version__ = "0.1.0"
