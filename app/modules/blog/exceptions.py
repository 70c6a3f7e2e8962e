"""Errors of the blog module."""

from __future__ import annotations

from app.core.errors import NotFound, PermissionDenied


class ArticleNotFound(NotFound):
    """Missing, or a draft the caller may not see: the two are indistinguishable."""

    default_message = "Article not found"


class NotTheAuthor(PermissionDenied):
    default_message = "Permission denied: only the author may change this article"
