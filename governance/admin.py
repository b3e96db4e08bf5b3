"""Django admin for IT: requests with their whole story on one page, grants, policies, audit.

Actions call services; status fields are never editable by hand. Each topic package registers
its own admin classes; importing them here is what makes Django's admin autodiscovery find them.
"""

from django.contrib import admin

from governance import admin_tasks  # noqa: F401
from governance.audit import admin as audit_admin  # noqa: F401
from governance.audit.admin_changes import audit_registered_admins
from governance.catalog_code.admin import files_owned_admins
from governance.drift import admin as drift_admin  # noqa: F401
from governance.grants import admin as grants_admin  # noqa: F401
from governance.jira import admin as jira_admin  # noqa: F401
from governance.lifecycle import admin as lifecycle_admin  # noqa: F401
from governance.notifications import admin as notifications_admin  # noqa: F401
from governance.requests import admin as requests_admin  # noqa: F401
from governance.tokens import admin as tokens_admin  # noqa: F401

# The admin home shows the dashboard of how access work is going (governance/templatetags).
admin.site.index_template = "admin/gatehouse_index.html"

# Catalog and policy edits write audit events with before/after (after every admin is registered).
audit_registered_admins()

# What catalog files own is read-only in the admin when GATEHOUSE_CATALOG_SOURCE=files.
files_owned_admins()
