"""Small builders for test data (plain functions: no factory library needed for this much)."""

from customers.models import Customer, Group, GroupEntry
from webhooks.models import Webhook


def make_customers(count: int, *, prefix="客户", start=0) -> list[Customer]:
    return Customer.objects.bulk_create(
        [
            Customer(
                name=f"{prefix}{i}",
                wechat_nickname=f"微信{i}",
                mobile=f"139{i:08d}",
                email=f"c{i}@example.com",
                activity_score=i,
            )
            for i in range(start, start + count)
        ]
    )


def make_group(customers, name="测试群组") -> Group:
    group = Group.objects.create(name=name)
    GroupEntry.objects.bulk_create([GroupEntry(group=group, customer=c) for c in customers])
    return group


def make_webhook(url: str, **fields) -> Webhook:
    values = {"name": "测试 webhook", "url": url, "auth_type": Webhook.AuthType.SECRET, "secret_key": "s3cr3t"}
    values.update(fields)
    return Webhook.objects.create(**values)
