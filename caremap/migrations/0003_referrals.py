from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from referrals.models import ReferralStatus, Urgency
from tortoise.fields.base import OnDelete
from uuid import uuid4
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0002_search')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Referral',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('service', fields.ForeignKeyField('models.Service', source_field='service_id', db_constraint=True, to_field='id', related_name='referrals', on_delete=OnDelete.RESTRICT)),
                ('receiving_organization_id', fields.UUIDField(db_index=True)),
                ('referring_organization_id', fields.UUIDField(db_index=True)),
                ('referring_user_id', fields.UUIDField()),
                ('status', fields.CharEnumField(default=ReferralStatus.REQUESTED, description='DRAFT: draft\nREQUESTED: requested\nRECEIVED: received\nACCEPTED: accepted\nIN_PROGRESS: in_progress\nON_HOLD: on_hold\nCOMPLETED: completed\nFAILED: failed\nREJECTED: rejected\nCANCELLED: cancelled', enum_type=ReferralStatus, max_length=20)),
                ('urgency', fields.CharEnumField(default=Urgency.ROUTINE, description='ROUTINE: routine\nSOON: soon\nURGENT: urgent', enum_type=Urgency, max_length=10)),
                ('due_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('needs', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('person_name', fields.CharField(max_length=100)),
                ('age_band', fields.CharField(max_length=20)),
                ('preferred_language', fields.CharField(default='en', max_length=10)),
                ('contact_method', fields.CharField(max_length=20)),
                ('contact_value', fields.CharField(null=True, max_length=254)),
                ('contact_times', fields.CharField(null=True, max_length=200)),
                ('reason', fields.CharField(null=True, max_length=30)),
                ('outcome', fields.CharField(null=True, max_length=40)),
                ('version', fields.IntField(default=1)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'referral', 'app': 'models', 'pk_attr': 'id'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Consent',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('referral', fields.OneToOneField('models.Referral', source_field='referral_id', db_constraint=True, to_field='id', related_name='consent', on_delete=OnDelete.CASCADE)),
                ('given_by', fields.CharField(max_length=30)),
                ('method', fields.CharField(max_length=20)),
                ('given_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('shares', fields.JSONField(default=list, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('recorded_by', fields.UUIDField()),
                ('withdrawn_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'referral_consent', 'app': 'models', 'pk_attr': 'id', 'table_description': 'Who agreed to the referral, how, when and to sharing what. Withdrawal stops it.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='ReferralEvent',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('referral', fields.ForeignKeyField('models.Referral', source_field='referral_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharField(max_length=20)),
                ('actor_user_id', fields.UUIDField(null=True)),
                ('from_status', fields.CharField(null=True, max_length=20)),
                ('to_status', fields.CharField(null=True, max_length=20)),
                ('note', fields.TextField(null=True, unique=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'referral_event', 'app': 'models', 'pk_attr': 'id', 'table_description': 'The timeline: append-only, no route or service updates or deletes these rows.'},
            bases=['Model'],
        ),
    ]
