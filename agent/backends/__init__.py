"""LLM backends: one small module each behind the LLMBackend interface in base.py."""
