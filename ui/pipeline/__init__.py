"""The live pipeline as small stages, linked by ui/session.py's LiveSession (the one front callers use).

    browser / file
      -> consent gate (consent.py: the toggles and their ledger; nothing passes a toggle that is off)
      -> turn taking (turn_taking.py: microphone audio to 16 kHz, cut into utterances by voice activity)
      -> the analyzers (analyzers.py: face per frame, words and voice per utterance; one way to run a model)
      -> fusion (fusion_stage.py: the session's tracker, switched by consent)
      -> responder (responder_stage.py: a local reply unless "remote" is allowed, streamed)
      -> timeline and recorder (timeline.py, recorder_stage.py: typed events in, the stored dict shape out)

Every stage has the same small interface (stage.py): `process` what flows in, `purge` what it holds of a modality
when consent is revoked, `close` at the end. What flows between them is typed (events.py); the models they call
are Protocols (models.py), loaded by `load_models`.
"""
