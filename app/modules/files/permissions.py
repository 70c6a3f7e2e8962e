"""Permission codes of the files module. Owners always reach their own files."""

from app.core.access import registry

FILE_LIST = registry.declare("files:file:list", "List every file in the data scope")
FILE_UPLOAD = registry.declare("files:file:upload", "Upload files")
FILE_READ = registry.declare("files:file:read", "Download any file in the data scope")
FILE_DELETE = registry.declare("files:file:delete", "Delete any file in the data scope")
