"""The modality registry: every table that used to be kept per module now reads it, and agrees with it."""

from __future__ import annotations

import pytest

from evaluation.ablation import CONDITIONS, CUE_TYPES
from fusion.fuse import CUE_MODALITY, modality_of
from fusion.modalities import NAMES, REGISTRY, gated_by, modality
from fusion.state import MODALITIES
from perception.cues import FaceCues, ProsodyCues, TextEmotion
from ui.pipeline.consent import CONSENT_MODALITIES
from ui.replay import check_without


def test_the_readers_of_the_registry_agree_with_it():
    assert MODALITIES == NAMES == ("text", "voice", "face")
    assert CUE_MODALITY == {TextEmotion: "text", ProsodyCues: "voice", FaceCues: "face"}
    assert CUE_TYPES == {"text": TextEmotion, "voice": ProsodyCues, "face": FaceCues}
    assert CONSENT_MODALITIES == {"camera": ("face",), "microphone": ("voice",)}
    assert CONDITIONS == {"text": ("text",), "audio": ("voice",), "face": ("face",), "text+audio": ("text", "voice"),
                          "text+face": ("text", "face"), "all": ("text", "voice", "face")}
    assert check_without("face,voice") == frozenset({"face", "voice"})


def test_each_cue_type_names_its_modality():
    for entry in REGISTRY:
        cue = entry.cue_type.__new__(entry.cue_type)
        assert modality_of(cue) == entry.name


def test_an_unknown_modality_or_toggle_is_said_plainly():
    with pytest.raises(ValueError, match="unknown modality 'smell'"):
        modality("smell")
    assert gated_by("store") == () and gated_by("camera") == ("face",)
