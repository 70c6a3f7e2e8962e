"""Security primitives: password hashing and policy, access tokens, secret boxes, TOTP, captcha.

Each submodule is imported directly (`from app.core.security.passwords import PasswordHasher`);
nothing is re-exported here so that importing one primitive does not load the others' heavy
dependencies (the zxcvbn word lists, Pillow, ...).
"""
