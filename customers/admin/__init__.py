"""The customers app's admin: customers and groups, then the loyalty screens (levels, members, coupons)."""

from . import customers, loyalty  # noqa: F401 - each module registers its ModelAdmins
