"""The simulated gate: scenario files, the world that plays them, and the twins it drives."""
