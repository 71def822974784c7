"""Small builders for test data (plain functions: no factory library needed for this much)."""

from django.contrib.auth.models import Group as Role
from django.contrib.auth.models import User

from customers.models import Customer, Group, GroupEntry
from webhookhub.roles import ADMINISTRATOR
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


def make_key_owner(username: str = "key-owner", role: str = ADMINISTRATOR) -> User:
    """An active user holding `role`: an API key is never stronger than its owner, so every key needs one."""
    user, _created = User.objects.get_or_create(username=username, defaults={"is_staff": True})
    user.groups.add(Role.objects.get(name=role))
    return user
