# SPDX-License-Identifier: Apache-2.0
"""User accounts."""
import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass
class User:
    id: int
    name: str
    email: str


def register(name, email):
    user = User(id=1, name=name, email=email)
    log.info("registered user %s with email %s", user.id, user.email)
    return user
