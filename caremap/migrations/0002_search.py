from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='SearchOutbox',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('service_id', fields.UUIDField(db_index=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('attempts', fields.IntField(default=0)),
                ('available_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('claimed_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('last_error', fields.CharField(null=True, max_length=300)),
            ],
            options={'table': 'search_outbox', 'app': 'models', 'pk_attr': 'id', 'table_description': "A listing whose search documents must be rebuilt. Written in the catalog write's"},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='UnmetSearch',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('query', fields.CharField(default='', max_length=100)),
                ('categories', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('postal_code', fields.CharField(null=True, db_index=True, max_length=5)),
                ('radius_miles', fields.FloatField()),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'unmet_search', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A search that found nothing nearby: the need, where (ZIP only) and when, never who.'},
            bases=['Model'],
        ),
    ]
