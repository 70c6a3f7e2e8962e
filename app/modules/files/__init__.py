"""Files module: upload and download with access control, on local or S3-compatible storage."""

from app.core.modules import ModuleSpec
from app.modules.files.router import router
from app.modules.files.storage import storage_lifespan

module = ModuleSpec(
    name="files",
    routers=[router],
    models=["app.modules.files.models"],
    depends_on=("system",),
    lifespan=storage_lifespan,
    permissions="app.modules.files.permissions",
    menus=[
        {
            "name": "Files",
            "title": "Files",
            "type": "directory",
            "path": "/files",
            "icon": "upload",
            "sort": 40,
            "children": [
                {
                    "name": "FileList",
                    "title": "Files",
                    "type": "menu",
                    "path": "/files/list",
                    "component": "files/index",
                    "icon": "documentation",
                    "permission": "files:file:list",
                    "sort": 1,
                }
            ],
        }
    ],
)
