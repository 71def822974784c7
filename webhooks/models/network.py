"""The ways out an Administrator sets up: outbound proxies (a fixed egress address) and private CAs."""

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from webhookhub.models import TimestampedModel
from webhooks.engine.egress import proxy_url_problem
from webhooks.engine.tls import ca_bundle_problem
from webhooks.secrets import EncryptedTextField


class OutboundProxy(TimestampedModel):
    """An HTTP proxy that webhooks may send through (docs/deploy: a fixed egress address); set up by an Administrator.

    Marketers choose among these on a webhook; the password is encrypted at rest and never shown again.
    """

    name = models.CharField(_("name"), max_length=100, unique=True)
    url = models.URLField(
        _("proxy URL"),
        max_length=500,
        validators=[URLValidator(schemes=["http"])],
        help_text=_("http://host:port of an HTTP proxy that supports CONNECT; the credentials go in the fields below."),
    )
    username = models.CharField(_("username"), max_length=255, blank=True)
    password = EncryptedTextField(_("password"), blank=True, default="")

    class Meta:
        ordering = ["name"]
        verbose_name = _("outbound proxy")
        verbose_name_plural = _("outbound proxies")

    def __str__(self):
        return self.name

    def clean(self):
        problem = proxy_url_problem(self.url)
        if problem:
            raise ValidationError({"url": problem})


class PrivateCA(TimestampedModel):
    """A company's own certificate authorities (PEM), to verify receivers whose certificates they signed."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    bundle = models.TextField(
        _("CA certificates (PEM)"),
        help_text=_("One or more -----BEGIN CERTIFICATE----- blocks: the root (and intermediate) certificates."),
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("private CA")
        verbose_name_plural = _("private CAs")

    def __str__(self):
        return self.name

    def clean(self):
        problem = ca_bundle_problem(self.bundle)
        if problem:
            raise ValidationError({"bundle": problem})
