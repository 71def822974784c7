# One vocabulary: a group send (群发) is a GroupSend everywhere.
from django.db import migrations, models
import django.db.models.deletion


def permissions_rename(apps, schema_editor):
    """Permissions keep their codenames through a model rename; the roles name the new ones."""
    Permission = apps.get_model("auth", "Permission")
    for action in ("add", "change", "delete", "view"):
        Permission.objects.filter(content_type__app_label="webhooks", codename=f"{action}_send").update(
            codename=f"{action}_groupsend"
        )


class Migration(migrations.Migration):
    dependencies = [("auth", "0012_alter_user_first_name_max_length"), ("webhooks", "0003_fewer_indexes_on_hot_tables"), ("customers", "0004_group_entry")]

    operations = [
        migrations.RenameModel("Send", "GroupSend"),
        migrations.RenameField("message", "send", "group_send"),

        migrations.AlterField(
            model_name='groupsend',
            name='group',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='group_sends', to='customers.group', verbose_name='group'),
        ),
        migrations.AlterField(
            model_name='groupsend',
            name='webhook',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='group_sends', to='webhooks.webhook', verbose_name='webhook'),
        ),
        migrations.AlterField(
            model_name='message',
            name='group_send',
            field=models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='message', to='webhooks.groupsend', verbose_name='group send'),
        ),
        migrations.RunPython(permissions_rename, migrations.RunPython.noop),
    ]
