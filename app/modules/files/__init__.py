"""Files module: upload and download with access control, on local or S3-compatible storage."""

from app.core.modules import ModuleSpec
from app.modules.files.router import router
from app.modules.files.storage import storage_lifespan

module = ModuleSpec(
    name="files",
    routers=[router],
    models=["app.modules.files.models"],
    depends_on=("system", "auth"),
    lifespan=storage_lifespan,
)
