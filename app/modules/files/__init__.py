"""Files module: upload and download with access control, on local or S3-compatible storage."""

from app.core.modules import ModuleSpec

module = ModuleSpec(
    name="files", models=["app.modules.files.models"], depends_on=("system", "auth")
)
