"""The workflow table and OLA timing, pure."""

import datetime as dt

from incidents import workflow as wf

T0 = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.timezone.utc)
OLA = (30, 120, 480)


def test_legal_path_and_reopen():
    path = ["new", "acknowledged", "in_progress", "pending_client", "in_progress", "resolved", "in_progress",
            "resolved", "closed"]
    assert all(wf.is_legal(a, b) for a, b in zip(path, path[1:]))


def test_illegal_moves_and_what_is_allowed_instead():
    assert not wf.is_legal("new", "resolved")
    assert not wf.is_legal("acknowledged", "pending_client")
    assert not wf.is_legal("closed", "in_progress")
    assert wf.allowed_transitions("new") == ("acknowledged",)
    assert wf.allowed_transitions("closed") == ()
    assert set(wf.OPEN_STATUSES) == {"new", "acknowledged", "in_progress", "pending_client"}


def test_lines_and_ola():
    assert [wf.next_line(x) for x in wf.LINES] == ["L2", "L3", "vendor", None]
    assert wf.ola_action("new", "L1", T0, False, T0 + dt.timedelta(minutes=29), OLA) is None
    assert wf.ola_action("new", "L1", T0, False, T0 + dt.timedelta(minutes=30), OLA) == "escalate"
    assert wf.ola_action("in_progress", "L2", T0, False, T0 + dt.timedelta(minutes=120), OLA) == "escalate"
    # L3 never goes to the vendor by itself: it is flagged, once
    assert wf.ola_action("in_progress", "L3", T0, False, T0 + dt.timedelta(minutes=480), OLA) == "flag"
    assert wf.ola_action("in_progress", "L3", T0, True, T0 + dt.timedelta(minutes=999), OLA) is None
    assert wf.ola_action("in_progress", "vendor", T0, False, T0 + dt.timedelta(days=9), OLA) is None
    assert wf.ola_action("resolved", "L1", T0, False, T0 + dt.timedelta(days=9), OLA) is None
    # waiting on the client does not escalate
    assert wf.ola_action("pending_client", "L1", T0, False, T0 + dt.timedelta(days=9), OLA) is None
