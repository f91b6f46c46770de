"""Mosquitto's password hash, `$7$`: PBKDF2-HMAC-SHA512 with a 12-byte salt, as `mosquitto_passwd` writes
it (`$7$<iterations>$<salt b64>$<hash b64>`). quaywatch writes Mosquitto's password_file with it and the
embedded broker checks passwords with it, so one account file format serves both brokers. No Python
library writes this format; hashlib's PBKDF2 is the whole of it (tests check it against mosquitto_passwd
and a real Mosquitto)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

# mosquitto_passwd's own default is 101; the passwords quaywatch generates are random, but a configured
# one may be a person's, so a guess costs more here. Mosquitto reads the count from each hash.
ITERATIONS = 20_000


def hash_password(password: str, iterations: int = ITERATIONS, salt: bytes | None = None) -> str:
    salt = os.urandom(12) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, hashed: str) -> bool:
    """False for a wrong password and for anything that is not a `$7$` hash, never an exception."""
    try:
        _, kind, iterations, salt_b64, digest_b64 = hashed.split("$")
        if kind != "7":
            return False
        expected = base64.b64decode(digest_b64, validate=True)
        got = hashlib.pbkdf2_hmac("sha512", password.encode(), base64.b64decode(salt_b64, validate=True),
                                  int(iterations))
    except (ValueError, TypeError, UnicodeError):
        return False
    return hmac.compare_digest(got, expected)
