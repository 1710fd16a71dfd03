"""Perception: media in, cues out. Knows nothing of fusion, agent or ui."""
