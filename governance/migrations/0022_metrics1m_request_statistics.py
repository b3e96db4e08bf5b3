"""PostgreSQL statistics on how a request's application, role and status go together.

Each role belongs to one application, so the planner, which takes the three columns as independent,
expects a hundred times more (application, role, status) groups than there are, and sorts a period's
requests to count them instead of hashing them. With these statistics (filled by ANALYZE, as
autovacuum runs it) the metrics' count of a year of requests reads the index once and hashes.
Nothing on other databases.
"""

from django.db import migrations

STATISTICS = "request_app_role_status"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE STATISTICS IF NOT EXISTS {STATISTICS} (ndistinct) "
            "ON application_id, role_id, status FROM governance_accessrequest"
        )


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP STATISTICS IF EXISTS {STATISTICS}")


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0021_metrics1m_tally_index"),
    ]

    operations = [migrations.RunPython(create, drop)]
