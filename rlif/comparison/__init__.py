"""The RLIF-versus-DAgger comparison (`benchmarks/rlif_vs_dagger.py`, `make reproduce`): the paper's
Table 1 on the simulated pick task, as a sweep of small resumable runs; see docs/results/."""
