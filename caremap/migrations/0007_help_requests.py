from tortoise import migrations
from tortoise.migrations import operations as ops
from referrals.models import HelpRequestStatus
from uuid import uuid4
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0006_indexes')]

    initial = False

    operations = [
        ops.CreateModel(
            name='HelpRequest',
            fields=[
                ('id', fields.UUIDField(primary_key=True, default=uuid4, unique=True, db_index=True)),
                ('school_organization_id', fields.UUIDField(db_index=True)),
                ('need', fields.CharField(max_length=100)),
                ('preferred_language', fields.CharField(default='en', max_length=10)),
                ('contact_method', fields.CharField(null=True, max_length=20)),
                ('contact_value', fields.CharField(null=True, max_length=254)),
                ('message', fields.CharField(null=True, max_length=500)),
                ('status', fields.CharEnumField(default=HelpRequestStatus.NEW, description='NEW: new\nHANDLED: handled', enum_type=HelpRequestStatus, max_length=10)),
                ('handled_by', fields.UUIDField(null=True)),
                ('created_at', fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'help_request', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A family\'s or student\'s "ask for help" from the public site, for their school\'s team.'},
            bases=['Model'],
        ),
    ]
