from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0009_listing_freshness')]

    initial = False

    operations = [
        ops.CreateModel(
            name='AuditEntry',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
                ('referral_id', fields.UUIDField(db_index=True)),
                ('action', fields.CharField(max_length=20)),
                ('actor_user_id', fields.UUIDField(null=True, db_index=True)),
                ('actor_organization_id', fields.UUIDField(null=True)),
                ('actor_role', fields.CharField(null=True, max_length=20)),
            ],
            options={'table': 'referral_audit', 'app': 'models', 'pk_attr': 'id', 'table_description': "Append-only: who read or wrote a referral's personal details, when, and how."},
            bases=['Model'],
        ),
    ]
