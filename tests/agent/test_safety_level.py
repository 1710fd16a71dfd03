"""Levels (crisis / concern / none), third-party risk, the check-in added in code, the resources by locale, and the
fall-back to the rules when the detector fails. The detector is the real one (MiniLM + the shipped weights); a mock
only for the faults."""

from __future__ import annotations

import json

import pytest

from agent import crisis_detector, safety
from agent.contracts import Appraisal
from agent.crisis_detector import CrisisScore
from agent.responder import Responder
from agent.safety_level import assess, concern_line, third_party
from perception.cues import as_json


class RaisingDetector:
    def score(self, text: str) -> CrisisScore:
        raise RuntimeError("weights went missing")


class FixedDetector:
    def __init__(self, level: str, probability: float) -> None:
        self.level, self.probability = level, probability

    def score(self, text: str) -> CrisisScore:
        return CrisisScore(probability=self.probability, level=self.level, window=text)


@pytest.fixture(scope="module")
def responder() -> Responder:
    return Responder(None)  # template replies; the real detector


@pytest.mark.parametrize("text, expected", [
    ("my friend says she wants to die", True),
    ("my sister said she's going to kill herself", True),
    ("my son told me he doesn't want to be alive anymore", True),
    ("I'm scared for my brother, he keeps talking about ending it all", True),
    ("I want to die", False),
    ("I keep thinking about killing myself", False),
    ("my friend is worried because I said I want to die", False),
    ("I don't want to be alive anymore", False),
])
def test_third_party_risk_is_told_from_ones_own(text, expected):
    assert third_party(text, safety.check(text)) is expected


def test_rules_are_the_floor_whatever_the_detector_says():
    found = assess("I want to kill myself", FixedDetector("none", 0.01))
    assert found.level == "crisis" and "suicide" in found.flags and found.reason.startswith("rules: suicide")


def test_the_detector_alone_can_raise_crisis_and_concern():
    crisis = assess("tonight is the end for me", FixedDetector("crisis", 0.97))
    assert crisis.level == "crisis" and crisis.flags == ("suicide",) and "detector p=0.97" in crisis.reason
    concern = assess("everything feels heavy", FixedDetector("concern", 0.6))
    assert concern.level == "concern" and concern.flags == () and "detector p=0.60" in concern.reason


def test_a_detector_that_raises_leaves_the_rules_to_decide_and_says_so():
    found = assess("I want to kill myself", RaisingDetector())
    assert found.level == "crisis" and found.detector_probability is None
    assert found.status and "crisis detector failed" in found.status[0] and "keyword rules only" in found.status[0]
    reply = Responder(None, crisis_detector=RaisingDetector()).respond("I keep thinking about killing myself")
    assert reply.route == "crisis" and any("keyword rules only" in s for s in reply.status)
    calm = Responder(None, crisis_detector=RaisingDetector()).respond("I got the job!")
    assert calm.route == "fallback" and any("crisis detector failed" in s for s in calm.status)


def test_a_detector_that_cannot_load_is_reported_once_in_the_status(monkeypatch):
    monkeypatch.setattr(crisis_detector, "_SHARED", {})
    monkeypatch.setattr(crisis_detector, "WEIGHTS_PATH", crisis_detector.WEIGHTS_PATH.with_name("missing.npz"))
    reply = Responder(None).respond("I want to kill myself")
    assert reply.route == "crisis"
    assert any(s.startswith("crisis detector unavailable") and "missing.npz" in s for s in reply.status)


def test_concern_gets_a_reply_with_the_check_in_added_in_code():
    reply = Responder(None, crisis_detector=FixedDetector("concern", 0.6)).respond("I've been so low for weeks")
    assert reply.route == "fallback" and reply.appraisal.safety_level == "concern"
    assert reply.text.endswith(concern_line(False)) and "are you safe right now?" in reply.text
    assert "local emergency number" in reply.text


def test_concern_about_someone_else_asks_about_them():
    reply = Responder(None, crisis_detector=FixedDetector("concern", 0.6)).respond(
        "my brother has been really down and he says he's tired of everything")
    assert reply.appraisal.safety_level == "concern" and reply.text.endswith(concern_line(True))
    assert "person you're worried about" in reply.text


def test_third_party_crisis_gets_its_own_message(responder):
    reply = responder.respond("my friend says she wants to die")
    assert reply.route == "crisis" and reply.appraisal.safety_level == "crisis"
    assert "someone you care about" in reply.text and "risk to someone else" in reply.appraisal.safety_reason
    own = responder.respond("I want to die")
    assert own.text == safety.CRISIS_MESSAGES["suicide"]


def test_resources_come_from_the_config_by_locale():
    gb = Responder(None, locale="en-GB").respond("I want to kill myself")
    assert "999" in gb.text and "116 123" in gb.text
    us = Responder(None, locale="en-US").respond("I want to kill myself")
    assert "911" in us.text and "988" in us.text
    unknown = Responder(None, locale="xx-YY").respond("I want to kill myself")
    assert unknown.text == safety.CRISIS_MESSAGES["suicide"]
    assert unknown.text.index("your local emergency number") < unknown.text.index("988")
    assert "116 123" in concern_line(False, "en-GB")


def test_the_default_messages_start_from_the_local_emergency_number():
    for kind, message in safety.CRISIS_MESSAGES.items():
        assert "your local emergency number" in message, kind


def test_a_broken_resources_config_is_one_line_naming_the_file(tmp_path):
    bad = tmp_path / "resources.json"
    bad.write_text(json.dumps({"default": {"emergency": "112"}}))
    with pytest.raises(ValueError, match=r"resources.json: the default locale lacks"):
        safety.load_resources(bad)
    bad.write_text("{")
    with pytest.raises(ValueError, match=r"resources.json: not a crisis resources config"):
        safety.load_resources(bad)


def test_level_and_reason_are_in_the_appraisal_and_its_json(responder):
    assert Appraisal("neutral", 0.1, "", "to_be_heard").safety_level == "none"  # old call sites keep working
    reply = responder.respond("I keep thinking about killing myself")
    doc = as_json(reply.appraisal)  # what session events store
    assert doc["safety_level"] == "crisis" and "killing myself" in doc["safety_reason"]
    calm = as_json(responder.respond("I got the job!").appraisal)
    assert calm["safety_level"] == "none" and calm["safety_reason"] == ""
