from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0011_retention')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Referral',
            name='sent_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        # A referral was sent when its timeline first reached "requested" (created as sent, or
        # a draft sent later); drafts, and drafts cancelled as such, stay unsent.
        ops.RunSQL(
            "UPDATE referral SET sent_at = (SELECT MIN(e.created_at) FROM referral_event e"
            " WHERE e.referral_id = referral.id AND e.to_status = 'requested')",
            reverse_sql="",
        ),
        ops.AddIndex(
            model_name='Referral',
            index=Index(fields=['receiving_organization_id', 'sent_at']),
        ),
    ]
