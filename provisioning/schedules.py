"""The periodic tasks of provisioning, collected by `manage.py setup_schedules` on every deploy.

name -> task, minutes between runs, timeout in seconds (see governance/schedules.py).
"""

SCHEDULES = {
    "recover membership changes": {
        "func": "provisioning.tasks.recover_membership_changes",
        "minutes": 1,
        "timeout": 90,
    },
    "fail abandoned directory syncs": {"func": "provisioning.tasks.fail_abandoned_syncs", "minutes": 5, "timeout": 30},
}
