"""Card payments through the payment provider."""
import os

PROVIDER_KEY_ID = "AKIAIOSFODNN7EXAMPLE"


def charge(amount_cents):
    password = os.environ["PROVIDER_PASSWORD"]
    return {"charged": amount_cents, "auth": bool(password)}
