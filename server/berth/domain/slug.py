"""Branch names and the session slugs derived from them. Hostile input is refused, never repaired."""

from __future__ import annotations

import re

from berth.domain.errors import BerthError, ErrorCode, Remedy, RemedyAction

SLUG_RULE = "2-62 characters of [a-z0-9-], starting and ending with a letter or digit"
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,60}[a-z0-9]$")
_BRANCH_CHARS = re.compile(r"^[A-Za-z0-9._/-]+$")
MAX_BRANCH_LENGTH = 200


def _reject_branch(branch: str, rule: str) -> BerthError:
    shown = branch if len(branch) <= 60 else branch[:57] + "..."
    return BerthError(
        ErrorCode.INVALID_BRANCH,
        f"branch {shown!r} is not allowed: {rule}",
        "pick a branch name of letters, digits, '.', '_', '/' and '-'",
        rule=rule,
    )


def validate_branch(branch: str) -> str:
    if not branch:
        raise _reject_branch(branch, "it is empty")
    if len(branch) > MAX_BRANCH_LENGTH:
        raise _reject_branch(branch, f"it is longer than {MAX_BRANCH_LENGTH} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in branch):
        raise _reject_branch(branch, "it contains a control character (e.g. NUL or newline)")
    if any(c.isspace() for c in branch):
        raise _reject_branch(branch, "it contains whitespace")
    if not branch.isascii():
        raise _reject_branch(branch, "it contains non-ASCII characters")
    if branch.startswith("-"):
        raise _reject_branch(branch, "it starts with '-' (it would be read as an option)")
    if ".." in branch:
        raise _reject_branch(branch, "it contains '..'")
    if not _BRANCH_CHARS.match(branch):
        bad = sorted({c for c in branch if not _BRANCH_CHARS.match(c)})
        raise _reject_branch(branch, f"it contains {''.join(bad)!r}")
    if branch.startswith("/") or branch.endswith(("/", ".", ".lock")) or "//" in branch or "/." in branch:
        raise _reject_branch(branch, "git forbids this shape (leading/trailing '/', '//', '/.', '.lock')")
    return branch


def slug_for_branch(branch: str) -> str:
    """Lower-case, '/' becomes '-'; the result must satisfy the slug rule."""
    validate_branch(branch)
    slug = branch.lower().replace("/", "-")
    if not _SLUG.match(slug):
        raise _reject_branch(branch, f"its slug {slug!r} must be {SLUG_RULE}")
    return slug


def validate_slug(slug: str) -> str:
    if not _SLUG.match(slug):
        shown = slug if len(slug) <= 60 else slug[:57] + "..."
        raise BerthError(
            ErrorCode.INVALID_SLUG,
            f"{shown!r} is not a valid session slug: it must be {SLUG_RULE}",
            "list the sessions to see their slugs",
            remedies=(Remedy(RemedyAction.LIST_SESSIONS),),
        )
    return slug


def resolve_session_ref(ref: str) -> str:
    """A slug, or a branch name whose slug is meant (`down feat/x` finds `feat-x`)."""
    if _SLUG.match(ref):
        return ref
    try:
        return slug_for_branch(ref)
    except BerthError:
        return validate_slug(ref)
