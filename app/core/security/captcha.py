"""Image captchas whose answers live only in the shared cache.

The answer is stored under ``captcha:<id>`` with a TTL and removed by the first verification
attempt (atomic GETDEL), right or wrong, so every image allows exactly one guess, in any
process (ASVS 6.1.1 anti-automation).
"""

from __future__ import annotations

import asyncio
import hmac
import re
import secrets
import threading

from captcha.image import ImageCaptcha

from app.core.cache import Cache
from app.core.config import Settings

KEY_PREFIX = "captcha:"
# Upper case without look-alikes (0/O/Q, 1/I/L, 2/Z, 5/S, 8/B): answers are compared
# case-insensitively, so users may type lower case.
ALPHABET = "ACDEFGHJKMNPRTUVWXY34679"
MIN_LENGTH = 4
MAX_LENGTH = 5
WIDTH = 160
HEIGHT = 60
# Ids are `secrets.token_urlsafe(16)` (22 characters); anything else cannot be ours.
_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")

# ImageCaptcha caches FreeType fonts on the instance; FreeType faces must not be shared between
# threads, so each worker thread gets its own renderer.
_renderers = threading.local()


def _render(code: str) -> bytes:
    renderer: ImageCaptcha | None = getattr(_renderers, "instance", None)
    if renderer is None:
        renderer = ImageCaptcha(width=WIDTH, height=HEIGHT)
        _renderers.instance = renderer
    data: bytes = renderer.generate(code, format="png").getvalue()
    return data


class CaptchaService:
    """Creates and checks single-use image captchas."""

    def __init__(self, cache: Cache, settings: Settings) -> None:
        self._cache = cache
        self._ttl = settings.captcha_ttl

    async def create(self) -> tuple[str, bytes]:
        """Make a new captcha.

        Returns:
            The captcha id (to send back with the answer) and the PNG image.
        """
        length = MIN_LENGTH + secrets.randbelow(MAX_LENGTH - MIN_LENGTH + 1)
        code = "".join(secrets.choice(ALPHABET) for _ in range(length))
        # Rendering takes milliseconds of CPU in Pillow; keep it off the event loop.
        image = await asyncio.to_thread(_render, code)
        captcha_id = secrets.token_urlsafe(16)
        await self._cache.set(KEY_PREFIX + captcha_id, code, ttl=self._ttl)
        return captcha_id, image

    async def verify(self, captcha_id: str | None, code: str | None) -> bool:
        """Check an answer and consume the captcha whatever the outcome.

        Args:
            captcha_id: The id returned by `create`.
            code: The user's answer, compared case-insensitively, surrounding spaces ignored.

        Returns:
            True only for the right answer on the first attempt before the TTL ran out.
        """
        if not captcha_id or not _ID.fullmatch(captcha_id):
            return False
        stored = await self._cache.getdel(KEY_PREFIX + captcha_id)
        if stored is None or not code:
            return False
        answer = code.strip().upper().encode()
        # compare_digest needs bytes for non-ASCII input; lengths may differ, which only
        # reveals the length of a code that is already consumed.
        return hmac.compare_digest(answer, stored.upper())
