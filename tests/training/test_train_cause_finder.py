from evaluation.evaluate_causes import CauseCase
from training.train_cause_finder import clause_rows, turn_rows

CASE = CauseCase("d1", (("A", "I lost my keys , and my phone died ."), ("B", "What a day .")), "sadness",
                 ((-1, "I lost my keys"), (0, "What a day")))


def test_turn_rows_label_the_turns_that_hold_a_cause():
    rows, labels, groups, where = turn_rows([CASE])
    assert where == [(0, 0), (0, -1)] and labels.tolist() == [1, 1] and list(groups) == ["d1", "d1"]
    assert len(rows) == 2 and all("bias" in r for r in rows)


def test_clause_rows_mark_the_clauses_inside_the_gold_span():
    _, labels, _, where = clause_rows([CASE])
    by_turn = {}
    for (_, g, _), label in zip(where, labels):
        by_turn.setdefault(g, []).append(int(label))
    assert by_turn[0][0] == 1 and sum(by_turn[0][1:]) == 0  # "I lost my keys" in, "and my phone died" out
    assert by_turn[1] == [1]
