"""The accounts of a contract run (clients/contract/check), with the standard library only.

    accounts.py setup BASE ADMIN_EMAIL ADMIN_PASSWORD
        Logs in as the superuser, signs up a bystander (an ordinary user) and a stand-in
        (made a superuser), logs the bystander in, stocks three products and places an order
        for the superuser and one for the bystander (so the order, cancel and list endpoints
        have something to find), and prints shell assignments: token, superuser_id,
        bystander_token, stand_in_id.
    accounts.py verify BASE TOKEN
        Exits non-zero unless TOKEN still belongs to an active superuser.
"""

from __future__ import annotations

import json
import secrets
import shlex
import sys
import urllib.error
import urllib.parse
import urllib.request


def call(base: str, method: str, path: str, *, token: str | None = None, json_body=None, form=None):
    headers = {}
    data = None
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if json_body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(json_body).encode()
    if form is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        data = urllib.parse.urlencode(form).encode()
    request = urllib.request.Request(base + path, data, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        body = error.read().decode(errors="replace")[:500]
        sys.exit(f"check: {method} {path}: {error.code} {body}")


def login(base: str, email: str, password: str) -> str:
    return call(base, "POST", "/api/v1/login/token", form={"username": email, "password": password})[
        "access_token"
    ]


def sign_up(base: str, email: str) -> tuple[str, str]:
    password = "contract-" + secrets.token_hex(12)
    user = call(base, "POST", "/api/v1/users", json_body={"email": email, "password": password})
    return user["id"], password


def setup(base: str, admin_email: str, admin_password: str) -> None:
    token = login(base, admin_email, admin_password)
    me = call(base, "GET", "/api/v1/users/me", token=token)
    _, bystander_password = sign_up(base, "bystander@example.com")
    bystander_token = login(base, "bystander@example.com", bystander_password)
    stand_in_id, _ = sign_up(base, "stand-in@example.com")
    call(base, "PATCH", f"/api/v1/users/{stand_in_id}", token=token, json_body={"is_superuser": True})
    products = [
        call(
            base,
            "POST",
            "/api/v1/products",
            token=token,
            json_body={"name": f"Contract fixture {n}", "price": price, "stock": 1_000_000_000},
        )["id"]
        for n, price in enumerate(["19.99", "0.00", "99999999.99"], 1)
    ]
    for who in (token, token, bystander_token):
        call(
            base,
            "POST",
            "/api/v1/orders",
            token=who,
            json_body={"items": [{"product_id": products[0], "quantity": 2}, {"product_id": products[1], "quantity": 1}]},
        )
    for name, value in [
        ("token", token),
        ("superuser_id", me["id"]),
        ("bystander_token", bystander_token),
        ("stand_in_id", stand_in_id),
    ]:
        print(f"{name}={shlex.quote(value)}")


def verify(base: str, token: str) -> None:
    me = call(base, "GET", "/api/v1/users/me", token=token)
    if not (me.get("is_active") and me.get("is_superuser")):
        sys.exit(f"check: the run's superuser was changed during the run: {me}")


if __name__ == "__main__":
    action, *args = sys.argv[1:]
    {"setup": setup, "verify": verify}[action](*args)
