"""The auth module declares no permission codes: its routes are public (login, refresh,
captcha) or need only a signed-in caller (profile, own sessions, MFA)."""
