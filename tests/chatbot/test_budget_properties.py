"""Properties of the context budgeter (`chatbot.chat.budget.plan`) over generated conversations
(hypothesis): the prompt and the answer never exceed the context window, the answer always
has its minimum room, the new message is always sent, and the history kept is always the
newest turns, starting at a question."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from chatbot.chat.budget import (
    MIN_ANSWER_TOKENS,
    PER_MESSAGE_TOKENS,
    PER_PROMPT_TOKENS,
    SAFETY_TOKENS,
    MessageTooLong,
    Turn,
    plan,
)

OVERHEAD = PER_PROMPT_TOKENS + SAFETY_TOKENS + PER_MESSAGE_TOKENS


@st.composite
def histories(draw: st.DrawFn) -> list[Turn]:
    """Turns as stored: each question then its answer, ids increasing (an answer may be
    missing, as when one failed before being stored)."""
    turns: list[Turn] = []
    for question, answer in draw(st.lists(st.tuples(st.integers(1, 3000),
                                                    st.one_of(st.none(), st.integers(1, 3000))),
                                          max_size=20)):
        turns.append(Turn(id=10 + 3 * len(turns), role="user", tokens=question))
        if answer is not None:
            turns.append(Turn(id=10 + 3 * len(turns), role="assistant", tokens=answer))
    return turns


@settings(max_examples=500, deadline=None)
@given(n_ctx=st.integers(256, 32768), max_answer=st.integers(1, 4096),
       fixed=st.integers(0, 4000), new=st.integers(1, 8000), history=histories(),
       start_at=st.integers(0, 20))
def test_a_plan_never_exceeds_the_window_and_keeps_the_newest_turns(
        n_ctx: int, max_answer: int, fixed: int, new: int, history: list[Turn],
        start_at: int) -> None:
    # Where the previous plan's window began: a question (plan() only ever cuts there).
    questions = [t.id for t in history if t.role == "user"]
    start_id = questions[start_at] if start_at < len(questions) else 0
    floor = min(max_answer, MIN_ANSWER_TOKENS)
    try:
        result = plan(n_ctx=n_ctx, max_answer=max_answer, fixed_tokens=fixed,
                      new_tokens=new, history=history, start_id=start_id)
    except MessageTooLong as exc:
        # Refused only when the message itself leaves the answer less than its minimum.
        assert n_ctx - OVERHEAD - fixed - new < floor
        assert exc.limit == max(0, n_ctx - OVERHEAD - fixed - floor)
        return
    assert floor <= result.answer_tokens <= max_answer
    assert result.prompt_tokens + result.answer_tokens <= n_ctx
    window = [t for t in history if t.id >= start_id]
    sent = [t for t in window if result.first_id is not None and t.id >= result.first_id]
    # The new message and everything fixed are always in the prompt...
    assert result.prompt_tokens == (OVERHEAD + fixed + new
                                    + sum(t.tokens + PER_MESSAGE_TOKENS for t in sent))
    # ...the history sent is the newest turns, opening with a question...
    assert sent == window[len(window) - len(sent):]
    assert not sent or sent[0].role == "user"
    # ...and nothing is dropped when everything fits.
    room = n_ctx - OVERHEAD - fixed - new - result.answer_tokens
    if sum(t.tokens + PER_MESSAGE_TOKENS for t in window) <= room:
        assert sent == window and not result.dropped
