import pytest

from agent.contracts import Appraisal
from agent.exemplars import load_bank
from agent.prompts import COE_VARIANTS, build_messages, normalise_coe, system_message

APPRAISAL = Appraisal(emotion="sadness", intensity=0.7, cause="my dog died", need="to_be_heard")


def test_messages_are_system_exemplar_turns_history_then_the_words():
    exemplars = load_bank()[:2]
    history = [("user", "hi"), ("assistant", "Hello, how are you?")]
    messages = build_messages("My dog died.", APPRAISAL, exemplars, history)
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user", "assistant", "user",
                                             "assistant", "user"]
    assert messages[1]["content"] == exemplars[0].user and messages[2]["content"] == exemplars[0].reply
    assert messages[-1]["content"] == "My dog died."
    assert '"my dog died"' in messages[0]["content"] and "no advice" in messages[0]["content"].lower()


def test_history_is_cut_to_the_recent_turns():
    history = [("user", f"turn {i}") for i in range(20)]
    messages = build_messages("now", APPRAISAL, [], history)
    assert len(messages) == 1 + 4 + 1 and messages[1]["content"] == "turn 16"


@pytest.mark.parametrize("name", ["cbt", "dbt", "person-centred", "person-centered", "reality", "CBT"])
def test_chain_of_empathy_variants_change_the_system_message(name):
    message = system_message(APPRAISAL, name)
    assert COE_VARIANTS[normalise_coe(name)] in message
    assert message != system_message(APPRAISAL)


def test_unknown_variant_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown Chain-of-Empathy"):
        normalise_coe("freud")
