"""The periodic tasks of governance, collected by `manage.py setup_schedules` on every deploy.

name -> task, minutes between runs, timeout in seconds, and optionally the cluster ("long": the
cluster started with Q_CLUSTER_NAME=long, for work that outlasts the default task timeout).
"""

SCHEDULES = {
    # A safety net under the expiry timer process (`manage.py expiry_timer`), which ends each grant
    # on the second: without the timer, grants still end within a minute.
    "expire due grants": {"func": "governance.tasks.expire_due_grants", "minutes": 1, "timeout": 90},
    "warn before expiry": {"func": "governance.tasks.send_expiry_warnings", "minutes": 1, "timeout": 90},
    "follow up approvals": {"func": "governance.tasks.follow_up_approvals", "minutes": 15, "timeout": 120},
    "send due Jira updates": {"func": "governance.tasks.sweep_jira_updates", "minutes": 1, "timeout": 90},
    "send due messages": {"func": "governance.tasks.sweep_messages", "minutes": 1, "timeout": 90},
    "verify the audit chain": {"func": "governance.tasks.verify_audit_chain", "minutes": 60, "timeout": 150},
    "lifecycle: joiners, movers, leavers": {"func": "governance.tasks.run_lifecycle", "minutes": 5, "timeout": 150},
    "prune task results": {"func": "governance.tasks.prune_task_results", "minutes": 10, "timeout": 90},
    "publish the catalog to Jira": {"func": "governance.tasks.publish_jira_catalog", "minutes": 60, "timeout": 150},
    "sync directories and detect drift": {
        "func": "governance.tasks.sync_directories_and_detect_drift",
        "minutes": 60,
        "timeout": 3300,
        "cluster": "long",
    },
}
