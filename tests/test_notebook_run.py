"""The notebook runner's shell polling: a reply is taken when it comes, the deadline holds."""

import asyncio
import time
from queue import Empty

import pytest

pytest.importorskip("nbclient")

from dl_workshop.teaching.checks import notebook_run  # noqa: E402


def _channel(replies_after: float):
    """A shell channel whose reply is there ``replies_after`` seconds from now, but whose
    ``get_msg`` (like the stalling one) only sees it if polled after that time."""
    ready_at = time.monotonic() + replies_after
    polls = []

    async def get_msg(timeout=None):
        polls.append(timeout)
        await asyncio.sleep(min(timeout, 0.01))
        if time.monotonic() >= ready_at:
            return {"parent_header": {"msg_id": "cell"}}
        await asyncio.sleep(max(0.0, timeout - 0.01))  # misses a reply arriving meanwhile
        raise Empty

    return get_msg, polls


def test_a_reply_that_arrives_during_a_poll_is_taken_at_the_next_poll():
    get_msg, polls = _channel(replies_after=0.12)
    began = time.monotonic()
    reply = asyncio.run(notebook_run._repolling(get_msg, poll_s=0.05)(timeout=30))
    assert reply["parent_header"]["msg_id"] == "cell"
    assert time.monotonic() - began < 1.0  # not the 30 s timeout
    assert len(polls) >= 2 and max(polls) <= 0.05


def test_the_deadline_still_holds():
    get_msg, _ = _channel(replies_after=60)
    began = time.monotonic()
    with pytest.raises(Empty):
        asyncio.run(notebook_run._repolling(get_msg, poll_s=0.05)(timeout=0.2))
    assert 0.15 < time.monotonic() - began < 1.0
