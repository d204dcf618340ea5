"""bnopt: reproduce "How Does Batch Normalization Help Optimization?" (Santurkar et al., 2018).

The science lives here as small modules with one job each:

- :mod:`bnopt.seeding`  pure (seed, purpose, step, ...) -> RNG seeds
- :mod:`bnopt.data`     CIFAR-10 download/verification, digits, DLN data
- :mod:`bnopt.norms`    the normalization variants (BN, noisy BN, l_p) and which modules each uses
- :mod:`bnopt.noise`    Algorithm 1's time-varying noise (noisy BN)
- :mod:`bnopt.lpnorm`   l_p normalization (one autograd node, closed-form backward)
- :mod:`bnopt.channels` per-channel tensor helpers
- :mod:`bnopt.models`   VGG and the deep linear network
- :mod:`bnopt.problems` device-resident data, losses, the minibatch of step t
- :mod:`bnopt.train`    the deterministic, resumable training loop
- :mod:`bnopt.probes`   landscape, ICS, activations, curvature at one step
- :mod:`bnopt.replay`   the probe job: exact replay with measurements switched on
- :mod:`bnopt.tables`   tidy tables gathered from every run
- :mod:`bnopt.claims`   the paper's claims, checked seed by seed by explicit rules
- :mod:`bnopt.sensitivity` learning-rate ranges, break points, claim 6
- :mod:`bnopt.scorecard` the paper's stated numbers beside this config's
- :mod:`bnopt.figures`  the paper's figures from the tidy tables
- :mod:`bnopt.report`   which figures the report draws, and their captions
- :mod:`bnopt.runs`     config -> the set of runs and their paths
- :mod:`bnopt.bench`    training throughput (VGG); :mod:`bnopt.benchdln` the DLN's step, every variant
- :mod:`bnopt.costs`    what the probes of a finished workflow cost
- :mod:`bnopt.cli`      ``python -m bnopt``: train, bench-train, bench-probes
"""

__version__ = "0.1.0"
