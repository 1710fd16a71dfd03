"""Basics: what every layer shares (the label space, the typed errors, the model files, the audio rate).

The lowest layer: it imports nothing of the project, so perception, fusion, agent, ui and the tooling can all use it
without a cycle.
"""
