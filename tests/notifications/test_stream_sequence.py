"""The per-connection SSE id: the contiguous watermark of the user's delivery sequence."""

from notifications.sse.frames import encode_frame
from notifications.sse.sequence import Watermark


def frame(seq: int, notification_id: int = 99) -> str:
    return encode_frame("notification", f'{{"id":{notification_id}}}', seq)


def relayed_ids(watermark: Watermark, seqs: list[int]) -> list[str | None]:
    """The id line each frame goes out with, or None when it is dropped."""
    out = []
    for seq in seqs:
        relayed = watermark.relay(frame(seq))
        out.append(None if relayed is None else relayed.split("\n", 1)[0])
    return out


def test_in_order_frames_carry_their_own_seq():
    assert relayed_ids(Watermark(4), [5, 6, 7]) == ["id: 5", "id: 6", "id: 7"]


def test_a_frame_past_a_gap_keeps_the_id_before_the_gap_until_the_gap_fills():
    watermark = Watermark(4)
    assert relayed_ids(watermark, [6, 7, 5]) == ["id: 4", "id: 4", "id: 7"]
    assert watermark.value == 7


def test_two_gaps_fill_one_at_a_time():
    assert relayed_ids(Watermark(0), [2, 4, 1, 3]) == ["id: 0", "id: 0", "id: 2", "id: 4"]


def test_frames_the_opening_covered_are_dropped_after_a_replay():
    assert relayed_ids(Watermark(4), [3, 4, 5]) == [None, None, "id: 5"]


def test_a_repeated_publish_is_dropped_whether_contiguous_or_past_a_gap():
    assert relayed_ids(Watermark(0), [1, 1, 3, 3, 2, 3]) == ["id: 1", None, "id: 1", None, "id: 3", None]


def test_without_a_replay_late_frames_from_before_the_stream_still_go_through_without_moving_the_id():
    watermark = Watermark(4, drop_through=0)
    assert relayed_ids(watermark, [3, 5]) == ["id: 4", "id: 5"]


def test_the_rest_of_the_frame_is_untouched_and_frames_without_an_id_pass_as_they_are():
    watermark = Watermark(0)
    assert watermark.relay(frame(1, notification_id=1234)) == 'id: 1\nevent: notification\ndata: {"id":1234}\n\n'
    count = encode_frame("unread_count", '{"count":3}')
    assert watermark.relay(count) == count
