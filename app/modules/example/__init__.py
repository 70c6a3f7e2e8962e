"""Examples: a business module with one resource.

Routes under `/api/v1/examples`,
guarded by the permission codes `example:example:*`.
Made by the module generator (docs/generator.md): model, schemas, repository, service, CRUD
routes, permissions, a menu, a migration and tests. Edit it freely; to disable the module,
list it in MODULES_DISABLED.
"""

# Generated with:
#   python main.py generate example --force \
#       --field name:str:100 \
#       --field 'description:str:500?'

from app.core.modules import ModuleSpec
from app.modules.example.permissions import EXAMPLE_LIST
from app.modules.example.router import router

module = ModuleSpec(
    name="example",
    routers=[router],
    models=["app.modules.example.models"],
    depends_on=("system",),
    permissions="app.modules.example.permissions",
    menus=[
        {
            "name": "Business",
            "title": "Business",
            "type": "directory",
            "path": "/business",
            "icon": "component",
            "sort": 50,
            "children": [
                {
                    "name": "BusinessExample",
                    "title": "Examples",
                    "type": "menu",
                    "path": "/business/examples",
                    "component": "example/index",
                    "icon": "list",
                    "permission": EXAMPLE_LIST,
                    "sort": 1,
                },
            ],
        },
    ],
)
