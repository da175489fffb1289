"""The actor: the gymnasium environment over the robot server, the intervention wrapper that
merges the operator's takeovers, and the actor process that streams every step to the learner."""
