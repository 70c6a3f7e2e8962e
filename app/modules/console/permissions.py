"""Permission codes of the console module: none. Its routes serve the static files of the
console's build and are public (the sign-in page must load); everything the console shows comes
from API routes that declare their own codes."""
