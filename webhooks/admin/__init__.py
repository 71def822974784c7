"""The webhooks app's admin: one module per part, and importing them registers their ModelAdmins.

webhook.py (webhooks: the send dialog, test connection, secrets, health), group_send.py (群发记录),
delivery.py (推送记录), recovery.py (批量重新发送), network.py (outbound proxies, private CAs); display.py and
filters.py hold what the lists share, views.py and connection_views.py the views the admin wires in,
exports.py the CSV of a send's results.
"""

from webhooks.admin import delivery, group_send, network, recovery, webhook  # noqa: F401 - each registers its admins
