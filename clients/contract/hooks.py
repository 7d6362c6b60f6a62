"""Schemathesis hooks for clients/contract/check (loaded through schemathesis.toml).

1. The run acts as one superuser, so it must not take that superuser's powers away from
   itself: PATCH /api/v1/users/{id} on its own id (which schemathesis finds, e.g. from
   GET /api/v1/users/me or the user list) can set `is_active` or `is_superuser` to false,
   and every request after that would only see 401 or 403. Such a request is sent to a
   stand-in superuser instead: the same body, the same checks, on another account. The
   reproduction curl commands show the id that was actually sent.

2. CSV bodies for POST /api/v1/products/import. The document declares the body as
   `text/csv` `{type: string, format: binary}`, for which schemathesis generates nothing and
   sends an empty body, so the import itself (and GET /api/v1/jobs/{id} after it) would never
   be reached. This strategy writes what the document's description says the endpoint takes
   (UTF-8, the header `name,description,price,stock`) with rows of every kind, valid or not:
   API.md makes bad rows job errors (still 202), not a rejected upload. A body without the
   header is not generated (an empty body still is, by the coverage phase).
"""

from __future__ import annotations

import csv
import io
import os
import uuid

import schemathesis
from hypothesis import strategies as st

_SELF = os.environ["CONTRACT_SUPERUSER_ID"]
_STAND_IN = os.environ["CONTRACT_STAND_IN_ID"]


def _same_user(value: object) -> bool:
    try:
        return uuid.UUID(str(value).strip()) == uuid.UUID(_SELF)
    except ValueError:
        return False


# before_call runs before every request, the checks' own follow-up requests included.
@schemathesis.hook
def before_call(context, case, kwargs):
    if case.operation.method.upper() == "PATCH" and case.operation.path == "/api/v1/users/{id}":
        if _same_user(case.path_parameters.get("id")):
            case.path_parameters["id"] = _STAND_IN


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
_price = st.one_of(
    st.decimals(min_value=0, max_value=99999999, places=2, allow_nan=False).map(str),
    st.sampled_from(["0.00", "19.99", "99999999.99", "100000000.00", "-1.00", "1.999", "1e3", "", "abc"]),
    _text,
)
_stock = st.one_of(
    st.integers(min_value=0, max_value=1_000_000_000).map(str),
    st.sampled_from(["0", "1000000000", "1000000001", "-1", "1.5", "", "x"]),
    _text,
)
_row = st.one_of(
    st.tuples(_text, _text, _price, _stock).map(list),
    # Too few or too many fields.
    st.lists(_text, max_size=6),
)


@st.composite
def _csv(draw) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow(["name", "description", "price", "stock"])
    writer.writerows(draw(st.lists(_row, max_size=8)))
    return out.getvalue().encode()


schemathesis.openapi.media_type("text/csv", _csv())
