"""The SSE id of one connection: the contiguous watermark of the user's delivery sequence.

Frames carry their notification's seq (notifications.sequencing) as ``id:``. Seq order
is commit order, but publish order is not: two chunks that commit 5 then 6 can publish
6 first. If the browser's Last-Event-ID became 6 and it reconnected before 5 arrived,
the replay (seq > 6) would skip 5. So each connection rewrites ``id:`` to the highest
seq up to which it has delivered everything, and a reconnect replays from the gap.
The page drops the repeats by notification id (the payload's "id").
"""

import re

_ID_LINE = re.compile(r"^id: (\d+)\n")


class Watermark:
    """Per connection: which live frames to send, and the id each one carries.

    `start` is the user's counter read with the opening: every seq up to it was
    replayed, expired, or already held by the client. With `drop_through` lower
    than `start` (a fresh stream, nothing replayed), late frames at or below
    `start` still go through, with the id unchanged.
    """

    def __init__(self, start: int, *, drop_through: int | None = None):
        self.value = start
        self._start = start
        self._drop_through = start if drop_through is None else drop_through
        self._ahead: set[int] = set()  # sent above a gap; absorbed when the gap fills

    def admit(self, seq: int) -> bool:
        """Whether to send the frame of `seq`; moves the watermark past it when contiguous."""
        if seq <= self.value:
            return self._drop_through < seq <= self._start  # a late frame from before a fresh stream
        if seq in self._ahead:
            return False  # a repeated publish of a frame already sent
        if seq != self.value + 1:
            self._ahead.add(seq)
            return True
        self.value = seq
        while self.value + 1 in self._ahead:
            self.value += 1
            self._ahead.discard(self.value)
        return True

    def relay(self, frame: str) -> str | None:
        """The frame to send for a published one (its id line rewritten), or None to drop it."""
        match = _ID_LINE.match(frame)
        if match is None:
            return frame  # not a notification: no id, the browser keeps its Last-Event-ID
        if not self.admit(int(match.group(1))):
            return None
        return f"id: {self.value}\n{frame[match.end():]}"
