"""cmdb.topology: cycles, downstream impact, upstream chains (pure)."""

from cmdb.topology import Edge, Graph

# router 1 -> switch 2 (uplink) -> media converter 3 (uplink); 2 and 3 fed by UPS 4; UPS 4 by PDU 5
EDGES = [(1, 2, "uplink"), (2, 3, "uplink"), (2, 4, "power"), (3, 4, "power"), (4, 5, "power")]


def test_cycle_detection_names_the_path():
    g = Graph(EDGES)
    assert g.cycle_if_added(5, 1) == [5, 1, 2, 4, 5]
    assert g.cycle_if_added(3, 3) == [3, 3]
    assert g.cycle_if_added(1, 5) is None  # a shortcut, not a loop
    assert g.cycle_if_added(6, 1) is None


def test_downstream_is_everything_impacted():
    g = Graph(EDGES)
    assert g.downstream([4]) == {2: 1, 3: 1, 1: 2}
    assert g.downstream([5]) == {4: 1, 2: 2, 3: 2, 1: 3}
    assert g.downstream([3], kinds=["power"]) == {}
    assert g.downstream([1]) == {}


def test_upstream_chain():
    g = Graph(EDGES)
    assert g.upstream([1]) == {2: 1, 3: 2, 4: 2, 5: 3}
    assert g.upstream([1], kinds=["uplink"]) == {2: 1, 3: 2}
    edges = g.upstream_edges([3])
    assert edges == [Edge(3, 4, "power"), Edge(4, 5, "power")]


def test_walks_go_nearest_first_in_edge_order():
    g = Graph([(1, 3, "uplink"), (1, 2, "power"), (3, 4, "power"), (2, 5, "uplink")])
    assert list(g.upstream([1])) == [3, 2, 4, 5]
    assert list(g.downstream([4, 5])) == [3, 2, 1]


def test_path_follows_kinds():
    g = Graph(EDGES)
    assert g.path(1, 5) == [1, 2, 4, 5]
    assert g.path(1, 5, kinds=["uplink"]) is None
    assert g.path(5, 1) is None
