from __future__ import annotations

import pytest

from berth.domain.errors import BerthError, ErrorCode
from berth.domain.slug import resolve_session_ref, slug_for_branch, validate_slug


@pytest.mark.parametrize(
    ("branch", "slug"),
    [
        ("feat/Add-Auth", "feat-add-auth"),
        ("main", "main"),
        ("release/2025/q1", "release-2025-q1"),
        ("ab", "ab"),
    ],
)
def test_slug_from_branch(branch: str, slug: str) -> None:
    assert slug_for_branch(branch) == slug


@pytest.mark.parametrize(
    ("branch", "rule"),
    [
        ("", "empty"),
        ("../x", "'..'"),
        ("a..b", "'..'"),
        ("-rf", "starts with '-'"),
        ("has space", "whitespace"),
        ("$(rm -rf ~)", "whitespace"),
        ("$(rm)", "contains"),
        ("nul\x00byte", "control character"),
        ("x" * 1000, "longer than"),
        ("brånch", "non-ASCII"),
        ("emoji-🚀", "non-ASCII"),
        ("feat_x", "slug"),
        ("v1.2", "slug"),
        ("a", "slug"),
        ("x" * 63, "slug"),
        ("feat/", "git forbids"),
        ("a:b", "contains"),
    ],
)
def test_hostile_branches_are_rejected_naming_the_rule(branch: str, rule: str) -> None:
    with pytest.raises(BerthError) as info:
        slug_for_branch(branch)
    assert info.value.code is ErrorCode.INVALID_BRANCH
    assert rule in info.value.message


def test_explicit_slug_is_checked_not_repaired() -> None:
    assert validate_slug("feat-x") == "feat-x"
    with pytest.raises(BerthError) as info:
        validate_slug("../etc")
    assert info.value.code is ErrorCode.INVALID_SLUG


def test_session_ref_accepts_a_branch_name() -> None:
    assert resolve_session_ref("feat/x") == "feat-x"
    assert resolve_session_ref("feat-x") == "feat-x"
