# A batch keeps what was asked for in parts (style names, how many objects of which
# model), so that its description is said in the reader's language rather than in the
# language of whoever queued it. A batch from before keeps its words in style_names,
# with no object count.

import django.db.models.deletion
from django.db import migrations, models


def keep_old_descriptions(apps, schema_editor):
    apps.get_model("stylestore", "Batch").objects.update(style_names=models.F("description"))


def restore_old_descriptions(apps, schema_editor):
    # Rolled back: the parts in words, in English (what was stored before is gone).
    Batch = apps.get_model("stylestore", "Batch")
    Batch.objects.filter(object_count=None).update(description=models.F("style_names"))
    for batch in Batch.objects.exclude(object_count=None).only("pk", "style_names", "object_count").iterator():
        Batch.objects.filter(pk=batch.pk).update(
            description=f"{batch.style_names} on {batch.object_count} objects"[:200])


class Migration(migrations.Migration):

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('stylestore', '0016_event_counted'),
    ]

    operations = [
        migrations.AddField(
            model_name='batch',
            name='style_names',
            field=models.CharField(blank=True, help_text='The styles\' names when queued. A batch queued before this field existed keeps its whole description here (object count empty).', max_length=200, verbose_name='styles'),
        ),
        migrations.AddField(
            model_name='batch',
            name='object_count',
            field=models.PositiveIntegerField(blank=True, null=True, verbose_name='objects'),
        ),
        migrations.AddField(
            model_name='batch',
            name='object_type',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='contenttypes.contenttype', verbose_name='object type'),
        ),
        migrations.RunPython(keep_old_descriptions, restore_old_descriptions),
        migrations.RemoveField(
            model_name='batch',
            name='description',
        ),
    ]
