"""The one base for every refusal a service makes, whatever the app."""

from django.core.exceptions import ValidationError


class HubError(ValidationError):
    """A request the hub refuses, with a reason (in the user's language) for the person who made it.

    A ValidationError, so forms and the admin show it like any other validation message.
    """
