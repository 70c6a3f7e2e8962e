"""The web console's build (`dist/`, made by `cd console && npm ci && npm run build`).

Shipped as package data, served at /console/ by `app.modules.console`.
"""

from pathlib import Path

DIST_DIR = Path(__file__).resolve().parent / "dist"
