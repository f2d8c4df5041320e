"""The front doors and what they share: validated options, the one preparation step that places a
problem, the solver, checkpoints, streaming and several devices."""
