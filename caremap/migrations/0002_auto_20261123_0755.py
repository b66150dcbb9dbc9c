from tortoise import migrations
from tortoise.migrations import operations as ops

class Migration(migrations.Migration):
    dependencies = [('models', '0001_initial')]

    initial = False

    operations = [
        ops.AlterModelOptions(
            name='GeocodeCache',
            options={'table': 'geocode_cache', 'app': 'models', 'unique_together': (('provider', 'query'),), 'pk_attr': 'id', 'table_description': 'Geocoder answers for listing addresses (public business addresses, never families).'},
        ),
    ]
