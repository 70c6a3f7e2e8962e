"""Permission codes of the blog module: moderation only.

Reading published articles and writing one's own needs no code (any signed-in user, see the
module docstring); these codes let a moderator reach other authors' articles, within the
moderator's data scope (judged by the author's department).
"""

from app.core.access import registry

ARTICLE_LIST = registry.declare(
    "blog:article:list", "See every article in the data scope, drafts included"
)
ARTICLE_DELETE_ANY = registry.declare(
    "blog:article:delete-any", "Delete any article in the data scope"
)
