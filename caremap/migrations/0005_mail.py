from tortoise import migrations
from tortoise.migrations import operations as ops
from referrals.models import MailStatus
from tortoise.fields.base import OnDelete
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0004_intake')]

    initial = False

    operations = [
        ops.CreateModel(
            name='MailOutbox',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('key', fields.CharField(unique=True, max_length=200)),
                ('kind', fields.CharField(max_length=30)),
                ('recipient', fields.CharField(max_length=20)),
                ('referral', fields.ForeignKeyField('models.Referral', source_field='referral_id', db_constraint=True, to_field='id', related_name='mail', on_delete=OnDelete.CASCADE)),
                ('status', fields.CharEnumField(default=MailStatus.PENDING, description='PENDING: pending\nSENT: sent\nFAILED: failed\nSKIPPED: skipped', enum_type=MailStatus, max_length=10)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('available_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ('claimed_until', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('attempts', fields.IntField(default=0)),
                ('last_error', fields.CharField(null=True, max_length=300)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'referral_mail', 'app': 'models', 'pk_attr': 'id', 'table_description': 'An email to send about a referral, written in the same transaction as the change.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Consent',
            name='follow_up',
            field=fields.BooleanField(default=False),
        ),
        ops.AddField(
            model_name='Organization',
            name='referral_email',
            field=fields.CharField(null=True, max_length=254),
        ),
        ops.AddField(
            model_name='Referral',
            name='client_report',
            field=fields.CharField(null=True, max_length=20),
        ),
        ops.AddField(
            model_name='Referral',
            name='client_reported_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
    ]
