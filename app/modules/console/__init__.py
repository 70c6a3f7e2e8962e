"""Console module: serves the web console's build at /console/ (see docs/console.md).

- `/console/` and every deep link under it: `index.html` (history-mode routing in the browser),
  `Cache-Control: no-cache`;
- `/console/assets/...`: the hashed files of the build, cached for a year (`immutable`);
- `/`: a redirect to `/console/`;
- its own Content-Security-Policy: scripts only from this origin, no external origin at all;
- no build (`app/console/dist/` missing): 503 with the command that makes it; the API is
  unaffected.
"""

from app.core.modules import ModuleSpec
from app.modules.console.router import router
from app.modules.console.settings import ConsoleSettings

module = ModuleSpec(
    name="console",
    routers=[router],
    settings=ConsoleSettings,
    permissions="app.modules.console.permissions",
)
