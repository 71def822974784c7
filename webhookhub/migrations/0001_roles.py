from django.db import migrations


def create_roles(apps, schema_editor):
    from webhookhub.roles import roles_sync

    roles_sync(apps, create_permissions_first=True)


def remove_roles(apps, schema_editor):
    from webhookhub.roles import ADMINISTRATOR, MARKETER

    apps.get_model("auth", "Group").objects.filter(name__in=[MARKETER, ADMINISTRATOR]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("customers", "0001_initial"),
        ("webhooks", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
