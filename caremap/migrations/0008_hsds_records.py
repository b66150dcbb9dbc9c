from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0007_help_requests')]

    initial = False

    operations = [
        ops.CreateModel(
            name='KeptRecord',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('hsds_table', fields.CharField(max_length=40)),
                ('record_id', fields.UUIDField()),
                ('organization', fields.ForeignKeyField('models.Organization', source_field='organization_id', null=True, db_index=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('service', fields.ForeignKeyField('models.Service', source_field='service_id', null=True, db_index=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('location', fields.ForeignKeyField('models.Location', source_field='location_id', null=True, db_index=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE)),
                ('data', fields.JSONField(encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('unused', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
            ],
            options={'table': 'hsds_record', 'app': 'models', 'unique_together': (('hsds_table', 'record_id'),), 'pk_attr': 'id', 'table_description': 'An HSDS record as it was imported, kept so an export gives back what caremap does not use.'},
            bases=['Model'],
        ),
    ]
