"""Fusion: cues from each modality into one EmotionState. Imports perception's cue types only."""
