"""Measuring the agent on labelled data: the ablation harness, reply and safety evaluations, and their sets."""
