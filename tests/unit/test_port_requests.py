"""Which host ports a session may be offered: the slot arithmetic of domain/ports.py."""

from __future__ import annotations

from berth.domain.ports import PortPolicy, port_request

POLICY = PortPolicy(slot=1, stride=1, max_slots=8, search_range=3, strict=False)


def test_the_slot_port_comes_first_then_one_per_slot_cycle() -> None:
    request = port_request("web", 8080, POLICY, override=None, recorded=None)
    assert list(request.candidates) == [8081, 8089, 8097, 8105]


def test_no_candidate_is_a_port_the_files_publish_themselves() -> None:
    # unstract publishes 8081..8092 from twelve services: slot 1 of 8081 would be 8082, another's own
    own = set(range(8081, 8093))
    request = port_request("backend", 8081, POLICY, override=None, recorded=None, avoid=own)
    assert request.nominal == 8098 and not own & set(request.candidates)


def test_a_block_is_dropped_when_any_of_its_ports_is_avoided() -> None:
    request = port_request("ftp", 30000, POLICY, override=None, recorded=None, width=10, avoid={30015})
    assert 30010 not in request.candidates and request.nominal == 30090


def test_an_explicit_override_is_kept_even_on_an_avoided_port() -> None:
    request = port_request("web", 8080, POLICY, override=8082, recorded=None, avoid={8082})
    assert list(request.candidates) == [8082] and request.fixed
