# SPDX-License-Identifier: Apache-2.0
"""Who is calling."""
from flask import request


def current_user():
    token = request.headers.get("Authorization", "")
    return token.removeprefix("Bearer ") or None
