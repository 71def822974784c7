# One vocabulary: "member" means loyalty membership only; a customer in a group is a group entry.
from django.db import migrations, models
import django.db.models.deletion


def permissions_rename(apps, schema_editor):
    """Permissions keep their codenames through a model rename; the roles name the new ones."""
    Permission = apps.get_model("auth", "Permission")
    for action in ("add", "change", "delete", "view"):
        Permission.objects.filter(content_type__app_label="customers", codename=f"{action}_groupmembership").update(
            codename=f"{action}_groupentry"
        )


class Migration(migrations.Migration):
    dependencies = [("auth", "0012_alter_user_first_name_max_length"), ("customers", "0003_customer_prefix_search_pg")]

    operations = [
        migrations.RenameModel("GroupMembership", "GroupEntry"),
        migrations.RenameField("group", "members", "customers"),

        migrations.AlterModelOptions(
            name='groupentry',
            options={'ordering': ['-joined_at'], 'verbose_name': 'customer in a group', 'verbose_name_plural': 'customers in a group'},
        ),
        migrations.AlterField(
            model_name='group',
            name='customers',
            field=models.ManyToManyField(related_name='customer_groups', through='customers.GroupEntry', to='customers.customer', verbose_name='customers'),
        ),
        migrations.AlterField(
            model_name='groupentry',
            name='customer',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='group_entries', to='customers.customer', verbose_name='customer'),
        ),
        migrations.AlterField(
            model_name='groupentry',
            name='group',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='entries', to='customers.group', verbose_name='group'),
        ),
        migrations.RunPython(permissions_rename, migrations.RunPython.noop),
    ]
