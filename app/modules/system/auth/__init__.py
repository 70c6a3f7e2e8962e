"""Sign-in half of the identity (system) module: login, tokens, sessions, MFA, captcha and
the caller's own profile. It implements the core's route guard (`app.core.guard`): the
principal resolver the system module's spec provides."""
