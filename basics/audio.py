"""Audio constants every layer shares."""

SAMPLE_RATE_HZ = 16000  # the one rate VAD, ASR, prosody and the recorder work at (what Whisper and Silero VAD expect)
