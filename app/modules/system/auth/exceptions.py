from app.core.errors import BadRequest, InvalidState, NotAuthenticated, NotFound, TooManyRequests


class InvalidCredentials(NotAuthenticated):
    # One message for unknown user, wrong password and disabled account (ASVS 6.3.8).
    error_type = "invalid_credentials"
    default_message = "Incorrect username or password"


class MfaCodeRequired(NotAuthenticated):
    error_type = "mfa_required"
    default_message = "Multi-factor authentication code required"


class InvalidMfaCode(NotAuthenticated):
    error_type = "invalid_mfa_code"
    default_message = "Invalid multi-factor authentication code"


class InvalidRefreshToken(NotAuthenticated):
    error_type = "invalid_refresh_token"
    default_message = "Invalid or expired refresh token"


class CaptchaRequired(BadRequest):
    error_type = "captcha_required"
    default_message = (
        "Captcha required: get one from GET /api/v1/auth/captcha and send its `captcha_id` "
        "with the characters shown as `captcha_code`"
    )


class InvalidCaptcha(BadRequest):
    error_type = "invalid_captcha"
    default_message = (
        "Invalid or expired captcha: get a new one from GET /api/v1/auth/captcha (each is "
        "single-use)"
    )


class WrongPassword(BadRequest):
    error_type = "wrong_password"
    default_message = "Current password is incorrect"


class MfaAlreadyEnabled(InvalidState):
    default_message = "Multi-factor authentication is already enabled"


class MfaNotEnabled(InvalidState):
    default_message = "Multi-factor authentication is not enabled"


class MfaSetupMissing(InvalidState):
    default_message = "Start multi-factor setup first"


class SessionNotFound(NotFound):
    default_message = "Session not found"


class TooManyFailures(TooManyRequests):
    """Too many failed sign-ins, passwords or codes (the throttle's counters)."""

    error_type = "too_many_failures"
