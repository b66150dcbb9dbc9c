from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.fields.base import OnDelete
from tortoise import fields
from tortoise.indexes import Index

class Migration(migrations.Migration):
    dependencies = [('models', '0005_mail')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='ApiToken',
            name='user',
            field=fields.ForeignKeyField('models.User', source_field='user_id', db_index=True, db_constraint=True, to_field='id', related_name='api_tokens', on_delete=OnDelete.CASCADE),
        ),
        ops.AlterField(
            model_name='Location',
            name='organization',
            field=fields.ForeignKeyField('models.Organization', source_field='organization_id', db_index=True, db_constraint=True, to_field='id', related_name='locations', on_delete=OnDelete.CASCADE),
        ),
        ops.AlterField(
            model_name='MailOutbox',
            name='referral',
            field=fields.ForeignKeyField('models.Referral', source_field='referral_id', db_index=True, db_constraint=True, to_field='id', related_name='mail', on_delete=OnDelete.CASCADE),
        ),
        ops.AlterField(
            model_name='Phone',
            name='location',
            field=fields.ForeignKeyField('models.Location', source_field='location_id', null=True, db_index=True, db_constraint=True, to_field='id', related_name='phones', on_delete=OnDelete.CASCADE),
        ),
        ops.AlterField(
            model_name='Phone',
            name='service',
            field=fields.ForeignKeyField('models.Service', source_field='service_id', null=True, db_index=True, db_constraint=True, to_field='id', related_name='phones', on_delete=OnDelete.CASCADE),
        ),
        ops.AlterField(
            model_name='Referral',
            name='service',
            field=fields.ForeignKeyField('models.Service', source_field='service_id', db_index=True, db_constraint=True, to_field='id', related_name='referrals', on_delete=OnDelete.RESTRICT),
        ),
        ops.AddIndex(
            model_name='Referral',
            index=Index(fields=['status', 'due_at']),
        ),
        ops.AddIndex(
            model_name='Referral',
            index=Index(fields=['status', 'updated_at']),
        ),
        ops.AlterField(
            model_name='ReferralEvent',
            name='referral',
            field=fields.ForeignKeyField('models.Referral', source_field='referral_id', db_index=True, db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE),
        ),
        ops.AlterField(
            model_name='Schedule',
            name='service',
            field=fields.ForeignKeyField('models.Service', source_field='service_id', null=True, db_index=True, db_constraint=True, to_field='id', related_name='schedules', on_delete=OnDelete.CASCADE),
        ),
        ops.AlterField(
            model_name='Schedule',
            name='service_at_location',
            field=fields.ForeignKeyField('models.ServiceAtLocation', source_field='service_at_location_id', null=True, db_index=True, db_constraint=True, to_field='id', related_name='schedules', on_delete=OnDelete.CASCADE),
        ),
        ops.AlterField(
            model_name='Service',
            name='organization',
            field=fields.ForeignKeyField('models.Organization', source_field='organization_id', db_index=True, db_constraint=True, to_field='id', related_name='services', on_delete=OnDelete.CASCADE),
        ),
        ops.AlterField(
            model_name='ServiceArea',
            name='service',
            field=fields.ForeignKeyField('models.Service', source_field='service_id', db_index=True, db_constraint=True, to_field='id', related_name='service_areas', on_delete=OnDelete.CASCADE),
        ),
        ops.AlterField(
            model_name='ServiceAtLocation',
            name='location',
            field=fields.ForeignKeyField('models.Location', source_field='location_id', db_index=True, db_constraint=True, to_field='id', related_name='service_at_locations', on_delete=OnDelete.CASCADE),
        ),
        ops.AlterField(
            model_name='ServiceAtLocation',
            name='service',
            field=fields.ForeignKeyField('models.Service', source_field='service_id', db_index=True, db_constraint=True, to_field='id', related_name='service_at_locations', on_delete=OnDelete.CASCADE),
        ),
        ops.AlterField(
            model_name='TaxonomyTerm',
            name='parent',
            field=fields.ForeignKeyField('models.TaxonomyTerm', source_field='parent_id', null=True, db_index=True, db_constraint=True, to_field='id', related_name='children', on_delete=OnDelete.RESTRICT),
        ),
        ops.AlterField(
            model_name='User',
            name='organization',
            field=fields.ForeignKeyField('models.Organization', source_field='organization_id', db_index=True, db_constraint=True, to_field='id', related_name='users', on_delete=OnDelete.RESTRICT),
        ),
        ops.AlterField(
            model_name='UserSession',
            name='user',
            field=fields.ForeignKeyField('models.User', source_field='user_id', db_index=True, db_constraint=True, to_field='id', related_name='sessions', on_delete=OnDelete.CASCADE),
        ),
    ]
