"""Blog module, the reference sample: articles written by users (`/api/v1/articles`).

Disabled by default (`MODULES_DISABLED=example,blog`); enable it with `MODULES_DISABLED=example`
or an empty `MODULES_DISABLED`. See docs/blog.md.

Access. The blog is for every signed-in user, so its routes declare `require()` with no code,
the project's "any signed-in user" marker (as `/api/v1/auth/me` does); the route meta-test
(tests/core/test_access.py) counts that as declared. Requiring codes instead would lock out
users without roles and would need the codes granted to the `user` role by data. Per article the
service decides: published articles and one's own drafts are visible, everything else is 404;
only the author edits. The two permission codes are for moderators: `blog:article:list` (see
every article, drafts included, whose author is in one's data scope) and
`blog:article:delete-any` (delete those). The "Articles" menu carries `blog:article:list`: it is
the moderation page, granted through roles like any menu (the `admin` role gets it at `init`).

Deleting a user (`DELETE /api/v1/system/users/{id}` is a hard delete) deletes their articles:
`blog_article.author_id` references `sys_user.id` with ON DELETE CASCADE.
"""

from app.core.modules import ModuleSpec
from app.modules.blog.router import router

module = ModuleSpec(
    name="blog",
    routers=[router],
    models=["app.modules.blog.models"],
    permissions="app.modules.blog.permissions",
    depends_on=("system",),
    menus=[
        {
            "name": "Blog",
            "title": "Blog",
            "type": "directory",
            "path": "/blog",
            "icon": "documentation",
            "sort": 60,
            "children": [
                {
                    "name": "BlogArticle",
                    "title": "Articles",
                    "type": "menu",
                    "path": "/blog/articles",
                    "component": "blog/article/index",
                    "icon": "form",
                    "permission": "blog:article:list",
                    "sort": 1,
                }
            ],
        }
    ],
)
