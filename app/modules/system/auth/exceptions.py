from app.core.errors import BadRequest, Conflict, NotAuthenticated, NotFound


class InvalidCredentials(NotAuthenticated):
    # One message for unknown user, wrong password and disabled account (ASVS 6.3.8).
    default_message = "Incorrect username or password"


class MfaCodeRequired(NotAuthenticated):
    default_message = "Multi-factor authentication code required"


class InvalidMfaCode(NotAuthenticated):
    default_message = "Invalid multi-factor authentication code"


class InvalidRefreshToken(NotAuthenticated):
    default_message = "Invalid or expired refresh token"


class CaptchaRequired(BadRequest):
    default_message = (
        "Captcha required: get one from GET /api/v1/auth/captcha and send its `captcha_id` "
        "with the characters shown as `captcha_code`"
    )


class InvalidCaptcha(BadRequest):
    default_message = (
        "Invalid or expired captcha: get a new one from GET /api/v1/auth/captcha (each is "
        "single-use)"
    )


class WrongPassword(BadRequest):
    default_message = "Current password is incorrect"


class MfaAlreadyEnabled(Conflict):
    default_message = "Multi-factor authentication is already enabled"


class MfaNotEnabled(Conflict):
    default_message = "Multi-factor authentication is not enabled"


class MfaSetupMissing(Conflict):
    default_message = "Start multi-factor setup first"


class SessionNotFound(NotFound):
    default_message = "Session not found"
