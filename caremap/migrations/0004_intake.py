from tortoise import migrations
from tortoise.migrations import operations as ops
from directory.models import IntakeState
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0003_referrals')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Service',
            name='intake_state',
            field=fields.CharEnumField(default=IntakeState.OPEN, description='OPEN: open\nWAITLIST: waitlist\nFULL: full', enum_type=IntakeState, max_length=10),
        ),
        ops.AddField(
            model_name='Service',
            name='intake_updated_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Service',
            name='intake_wait_days',
            field=fields.IntField(null=True),
        ),
    ]
