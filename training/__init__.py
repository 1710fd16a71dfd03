"""Offline tooling that fits the models the runtime packages ship: each script writes a small committed artifact
with its command, data, machine and scores next to it."""
