from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0012_sent_at')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Referral',
            name='reference',
            field=fields.CharField(default='', max_length=8),
        ),
        ops.AddField(
            model_name='Referral',
            name='last_activity_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddField(
            model_name='Referral',
            name='receiver_unread',
            field=fields.BooleanField(default=False),
        ),
        ops.AddField(
            model_name='Referral',
            name='referrer_unread',
            field=fields.BooleanField(default=False),
        ),
        ops.AddField(
            model_name='Referral',
            name='name_shared',
            field=fields.BooleanField(default=False),
        ),
        # Existing referrals: their reference, their last event, and whether the consent in
        # force shares the name (the same SQL on SQLite and PostgreSQL).
        ops.RunSQL(
            "UPDATE referral SET reference = UPPER(SUBSTR(CAST(id AS TEXT), 1, 8)),"
            " last_activity_at = (SELECT MAX(e.created_at) FROM referral_event e"
            " WHERE e.referral_id = referral.id),"
            " name_shared = EXISTS (SELECT 1 FROM referral_consent c"
            " WHERE c.referral_id = referral.id AND c.withdrawn_at IS NULL"
            " AND CAST(c.shares AS TEXT) LIKE '%\"name\"%')",
            reverse_sql="",
        ),
        ops.AddIndex(
            model_name='Referral',
            index=Index(fields=['receiving_organization_id', 'receiver_unread']),
        ),
        ops.AddIndex(
            model_name='Referral',
            index=Index(fields=['referring_user_id', 'referrer_unread']),
        ),
    ]
