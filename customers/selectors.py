"""Reads of customers: the picker's search, fast on 100,000 customers and more."""

from django.db import connection
from django.db.models import Count

from .models import Customer, Group

SEARCH_LIMIT = 20
# Past this many matches the picker says "more than 1,000": counting further reads more of the index.
SEARCH_COUNT_CAP = 1000


def _prefix(field: str, text: str) -> dict:
    if connection.vendor == "sqlite":
        # A range on the indexed column instead of LIKE: SQLite uses an index for LIKE only on
        # NOCASE columns, but a range on its plain (binary) index.
        return {f"{field}__gte": text, f"{field}__lt": text + "\U0010ffff"}
    # PostgreSQL: LIKE 'text%' uses a b-tree index under the C collation or with *_pattern_ops.
    return {f"{field}__startswith": text}


def _lookups(text: str) -> list[tuple[str, dict]]:
    lookups = [("name", _prefix("name", text)), ("wechat_nickname", _prefix("wechat_nickname", text))]
    if text.isdigit() or text.startswith("+"):
        lookups.insert(0, ("mobile", _prefix("mobile", text)))
    if text.isdigit() and len(text) < 12:
        lookups.insert(0, ("pk", {"pk": int(text)}))
    return lookups


def customer_search_page(*, query: str, limit: int = SEARCH_LIMIT, count_cap: int = SEARCH_COUNT_CAP) -> dict:
    """The picker's answer: the first `limit` matches, how many match in all (counted up to `count_cap`,
    by the same indexed lookups: ids only) and whether there are more than are shown."""
    results = customer_search(query=query, limit=limit)
    text = (query or "").strip()
    if len(results) < limit:
        return {"results": results, "total": len(results), "more": False, "total_capped": False}
    ids: set[int] = set()
    for order, lookup in _lookups(text):
        ids.update(Customer.objects.filter(**lookup).order_by(order).values_list("pk", flat=True)[: count_cap + 1])
    capped = len(ids) > count_cap
    total = count_cap if capped else len(ids)
    return {"results": results, "total": total, "more": total > len(results), "total_capped": capped}


def customer_search(*, query: str, limit: int = SEARCH_LIMIT) -> list[Customer]:
    """Customers whose name, WeChat nickname or mobile starts with `query` (exact id too).

    Three indexed lookups of at most `limit` rows each, merged: never a scan of the table.
    """
    text = (query or "").strip()
    if not text:
        return []
    found: dict[int, Customer] = {}
    for order, lookup in _lookups(text):
        for customer in Customer.objects.filter(**lookup).order_by(order)[:limit]:
            found.setdefault(customer.pk, customer)
        if len(found) >= limit:
            break
    return list(found.values())[:limit]


def groups_with_counts():
    return Group.objects.annotate(customer_count=Count("entries")).order_by("name")
