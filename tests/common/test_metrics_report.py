"""The evaluation report: the worst items and the most common character errors."""

from common.metrics import confusions, worst_items


def test_confusions_count_substitutions_deletions_and_insertions():
    references = ["hello world", "cab", "rn"]
    hypotheses = ["hallo world", "cob", "m!"]
    assert confusions(references, hypotheses, top=3) == [(("e", "a"), 1), (("a", "o"), 1), (("r", "m"), 1)]
    found = dict(confusions(references, hypotheses, top=10))
    assert found[("n", "!")] == 1
    assert dict(confusions(["abc"], ["ac"]))[("b", "")] == 1
    assert dict(confusions(["ac"], ["abc"]))[("", "b")] == 1


def test_worst_items_are_ranked_by_their_own_error_rate():
    references = ["perfect", "a long line with one error", "ab"]
    hypotheses = ["perfect", "a long line with one errer", "xy"]
    worst = worst_items(references, hypotheses, top=5)
    assert [index for index, _ in worst] == [2, 1]  # the perfect item is not listed
    assert worst[0][1] == 1.0 and 0 < worst[1][1] < 0.1
