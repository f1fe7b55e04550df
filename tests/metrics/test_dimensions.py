"""Label folding into ``other`` and the groups window metrics are cut by."""

from __future__ import annotations

from tests.builders import at

from streamgauge.config import Settings
from streamgauge.metrics.dimensions import LabelFolder, all_groups, groups_of
from streamgauge.metrics.windows import windows_at


def test_configured_teams_and_apps_are_the_default_allow_list() -> None:
    fold = LabelFolder.from_settings(
        Settings(
            teams={"payments": {"apps": ["checkout"]}},
            apps={"ledger": {"repos": ["acme/ledger"]}},
        )
    )
    assert fold.pair("payments", "checkout") == ("payments", "checkout")
    assert fold.pair("payments", "ledger") == ("payments", "ledger")  # from `apps`
    assert fold.pair("search", "indexer") == ("other", "other")
    assert fold.pair(None, None) == ("other", "other")


def test_explicit_label_lists_replace_the_configured_names() -> None:
    fold = LabelFolder.from_settings(
        Settings(teams={"payments": {"apps": ["checkout"]}}, labels={"teams": ["search"]})
    )
    # teams come from labels.teams only; apps still from the configuration
    assert fold.pair("payments", "checkout") == ("other", "checkout")
    assert fold.pair("search", "checkout") == ("search", "checkout")


def test_allow_list_is_bounded_and_all_is_reserved() -> None:
    fold = LabelFolder(["a", "b", "c", "all"], ["x"], max_values=2)
    # only the first two names are kept; "all" would collide with the aggregate groups
    assert [fold.team(t) for t in ("a", "b", "c", "all")] == ["a", "b", "other", "other"]


def test_an_observation_counts_in_three_groups() -> None:
    assert groups_of(("payments", "checkout")) == (
        ("all", "all"),
        ("payments", "all"),
        ("payments", "checkout"),
    )
    assert all_groups([("p", "x"), ("p", "y")]) == {
        ("all", "all"),
        ("p", "all"),
        ("p", "x"),
        ("p", "y"),
    }


def test_windows_are_half_open_and_labelled_by_their_duration() -> None:
    settings = Settings(windows=["30d", "7d", "12h"])
    w12h, w7d, w30d = windows_at(at(days=30), settings.windows)
    assert [w.label for w in (w12h, w7d, w30d)] == ["12h", "7d", "30d"]
    assert w7d.days == 7.0
    assert w12h.days == 0.5
    assert not w7d.contains(at(days=23))  # start excluded
    assert w7d.contains(at(days=23, minutes=1))
    assert w7d.contains(at(days=30))  # now included
    assert not w7d.contains(at(days=30, minutes=1))
    assert not w7d.contains(None)
