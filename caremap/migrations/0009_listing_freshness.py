from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from directory.models import ProblemKind
from json import dumps, loads
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0008_hsds_records')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ProblemReport',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('service', fields.ForeignKeyField('models.Service', source_field='service_id', db_index=True, db_constraint=True, to_field='id', related_name='problem_reports', on_delete=OnDelete.CASCADE)),
                ('organization_id', fields.UUIDField(db_index=True)),
                ('kind', fields.CharEnumField(description='WRONG_PHONE: wrong_phone\nWRONG_ADDRESS: wrong_address\nWRONG_HOURS: wrong_hours\nCLOSED: closed\nMOVED: moved\nOTHER: other', enum_type=ProblemKind, max_length=20)),
                ('details', fields.TextField(default='', unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('resolved_at', fields.DatetimeField(null=True, db_index=True, auto_now=False, auto_now_add=False)),
                ('resolved_by', fields.UUIDField(null=True)),
                ('resolution', fields.TextField(null=True, unique=False)),
            ],
            options={'table': 'problem_report', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Someone told us a listing is wrong (from its public page), tracked until resolved.'},
            bases=['Model'],
        ),
        ops.AlterModelOptions(
            name='MailOutbox',
            options={'table': 'referral_mail', 'app': 'models', 'pk_attr': 'id', 'table_description': 'An email to send about a referral or a listing, written in the same transaction as the'},
        ),
        ops.AlterField(
            model_name='MailOutbox',
            name='referral',
            field=fields.ForeignKeyField('models.Referral', source_field='referral_id', null=True, db_index=True, db_constraint=True, to_field='id', related_name='mail', on_delete=OnDelete.CASCADE),
        ),
        ops.AddField(
            model_name='MailOutbox',
            name='problem',
            field=fields.ForeignKeyField('models.ProblemReport', source_field='problem_id', null=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE),
        ),
        # Added without its index, then altered to have one: on PostgreSQL, Tortoise's AddField
        # does not create a foreign key's index, while AlterField does.
        ops.AddField(
            model_name='MailOutbox',
            name='service',
            field=fields.ForeignKeyField('models.Service', source_field='service_id', null=True, db_index=False, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE),
        ),
        ops.AlterField(
            model_name='MailOutbox',
            name='service',
            field=fields.ForeignKeyField('models.Service', source_field='service_id', null=True, db_index=True, db_constraint=True, to_field='id', related_name=False, on_delete=OnDelete.CASCADE),
        ),
        ops.AddField(
            model_name='Service',
            name='review_requested_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Service',
            name='review_signals',
            field=fields.JSONField(null=True, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='Service',
            name='stale_since',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
