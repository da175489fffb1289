"""The learner: RLIF reward labels, SAC (RLPD recipe) and imitation baselines, replay, checkpoints.

Depends on `wire`, numpy and torch only; nothing here needs a robot library.

- `learner.config.LearnerConfig`: every setting.
- `learner.algorithms`: the table of algorithms (rlif, rlpd, hg_dagger, dagger, bc), one module each.
- `learner.agents`: the `Agent` interface and the agents it trains (SAC, behaviour cloning).
- `learner.learner.Learner`: episodes and streamed steps in, `update()`, policy weights out, checkpoints.
- `learner.policy.Policy`: the actor side's inference from exported weights.
- `learner.labels`: the RLIF reward definition.
"""
