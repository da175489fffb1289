"""The actor: the gymnasium environment over the robot server, and (later) the actor loop."""
