"""Template tags for the roles: whom to ask for what a role may not do."""

from django import template

from webhookhub.roles import administrator_names as _administrator_names

register = template.Library()


@register.simple_tag
def administrator_names() -> list[str]:
    return _administrator_names()
