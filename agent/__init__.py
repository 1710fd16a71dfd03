"""The responder: empathize (EBG stage 1), then generate (stage 2), check, and keep the person safe."""
