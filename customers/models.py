from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from webhookhub.models import TimestampedModel
from webhookhub.text import validate_one_line

from .validators import validate_attributes, validate_mobile


class MembershipLevel(models.Model):
    """A loyalty level; a higher rank is a higher level (so moving to it is a level up)."""

    name = models.CharField(_("name"), max_length=64, unique=True, validators=[validate_one_line])
    rank = models.PositiveIntegerField(_("rank"), unique=True, help_text=_("Higher is better."))

    class Meta:
        ordering = ["rank"]
        verbose_name = _("membership level")
        verbose_name_plural = _("membership levels")

    def __str__(self):
        return self.name


class Customer(TimestampedModel):
    # Indexed for the customer picker's prefix search: on PostgreSQL, db_index on a CharField also builds
    # the varchar_pattern_ops index (…_like) that LIKE 'x%' needs under a non-C collation.
    name = models.CharField(_("name"), max_length=128, db_index=True, validators=[validate_one_line])
    wechat_nickname = models.CharField(_("WeChat nickname"), max_length=128, blank=True, db_index=True)
    mobile = models.CharField(_("mobile"), max_length=20, blank=True, validators=[validate_mobile], db_index=True)
    email = models.EmailField(_("email"), blank=True)
    activity_score = models.IntegerField(_("activity score"), default=0, db_index=True)
    attributes = models.JSONField(_("custom attributes"), default=dict, blank=True, validators=[validate_attributes])
    # Member data: a customer is a member once it has a membership id.
    membership_id = models.CharField(_("membership ID"), max_length=64, blank=True)
    level = models.ForeignKey(
        MembershipLevel,
        verbose_name=_("membership level"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="members",
    )
    points = models.IntegerField(_("points"), default=0)
    # Indexed, unlike the base's: the customer list filters 100,000 customers by it.
    created_at = models.DateTimeField(_("created at"), auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        constraints = [
            models.UniqueConstraint(
                fields=["mobile"],
                condition=~Q(mobile=""),
                name="customer_mobile_unique_when_present",
                violation_error_message=_("A customer with this mobile already exists."),
            ),
            models.UniqueConstraint(
                fields=["membership_id"],
                condition=~Q(membership_id=""),
                name="customer_membership_id_unique_when_present",
                violation_error_message=_("A customer with this membership ID already exists."),
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.mobile})" if self.mobile else self.name

    @property
    def is_member(self) -> bool:
        return bool(self.membership_id)


class Group(models.Model):
    name = models.CharField(_("name"), max_length=128, unique=True, validators=[validate_one_line])
    description = models.TextField(_("description"), blank=True)
    customers: "models.ManyToManyField[Customer, GroupEntry]" = models.ManyToManyField(
        Customer, through="GroupEntry", related_name="customer_groups", verbose_name=_("customers")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("group")
        verbose_name_plural = _("groups")

    def __str__(self):
        return self.name


class GroupEntry(models.Model):
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="entries", verbose_name=_("group"))
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="group_entries", verbose_name=_("customer")
    )
    joined_at = models.DateTimeField(_("joined at"), auto_now_add=True)

    class Meta:
        ordering = ["-joined_at"]
        verbose_name = _("customer in a group")
        verbose_name_plural = _("customers in a group")
        constraints = [models.UniqueConstraint(fields=["group", "customer"], name="group_member_once")]

    def __str__(self):
        return f"{self.customer} @ {self.group}"


class Member(Customer):
    """The loyalty view of customers: only those with a membership ID, with the loyalty actions."""

    class Meta:
        proxy = True
        verbose_name = pgettext_lazy("loyalty", "member")
        verbose_name_plural = pgettext_lazy("loyalty", "members")


class Coupon(models.Model):
    name = models.CharField(_("name"), max_length=128, validators=[validate_one_line])
    description = models.TextField(_("description"), blank=True)
    start_date = models.DateField(_("valid from"))
    end_date = models.DateField(_("valid until"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["-id"]
        verbose_name = _("coupon")
        verbose_name_plural = _("coupons")
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__gte=models.F("start_date")),
                name="coupon_end_after_start",
                violation_error_message=_("The end date must not be before the start date."),
            )
        ]

    def __str__(self):
        return self.name


class CouponCode(models.Model):
    """One member's code of a coupon: dispatched by the system or drawn by the member, then redeemed."""

    class Status(models.TextChoices):
        DISPATCHED = "dispatched", pgettext_lazy("status", "Dispatched")
        DRAWN = "drawn", pgettext_lazy("status", "Drawn")
        REDEEMED = "redeemed", pgettext_lazy("status", "Redeemed")

    coupon = models.ForeignKey(Coupon, on_delete=models.PROTECT, related_name="codes", verbose_name=_("coupon"))
    code = models.CharField(_("code"), max_length=64, unique=True)
    batch_id = models.CharField(_("batch ID"), max_length=64, blank=True, db_index=True)
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="coupon_codes", verbose_name=_("member")
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, db_index=True)
    start_date = models.DateField(_("valid from"))
    end_date = models.DateField(_("valid until"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    redeemed_at = models.DateTimeField(_("redeemed at"), null=True, blank=True)
    redeemed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("redeemed by"),
    )

    class Meta:
        ordering = ["-id"]
        verbose_name = _("coupon code")
        verbose_name_plural = _("coupon codes")

    def __str__(self):
        return self.code
