# SPDX-License-Identifier: Apache-2.0
"""The shop's HTTP API."""
from flask import Flask, abort, request

from src.auth import current_user
from src.users import register

app = Flask(__name__)


@app.post("/users")
def create_user():
    user = register(request.form["name"], request.form["email"])
    return {"id": user.id}


@app.get("/orders")
def list_orders():
    if current_user() is None:
        abort(401)
    return {"orders": []}
