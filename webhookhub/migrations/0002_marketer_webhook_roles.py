"""The Marketer creates and edits webhooks (as in DM Hub's 设置 › Webhook): the stored roles get it now.

post_migrate syncs the roles after every migrate as well; this step records when the change came.
"""

from django.db import migrations


def roles_update(apps, schema_editor):
    from webhookhub.roles import roles_sync

    roles_sync(apps, create_permissions_first=True)


class Migration(migrations.Migration):
    dependencies = [("webhookhub", "0001_roles")]

    operations = [migrations.RunPython(roles_update, migrations.RunPython.noop)]
