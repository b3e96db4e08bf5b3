"""The periodic tasks of access reviews and Auto Reclaim, collected by `manage.py setup_schedules`.

name -> task, minutes between runs, timeout in seconds (see governance/schedules.py).
"""

SCHEDULES = {
    "remind reviewers": {"func": "reviews.campaigns.tasks.send_review_reminders", "minutes": 60 * 24, "timeout": 150},
    "escalate overdue reviews": {"func": "reviews.campaigns.tasks.escalate_reviews", "minutes": 60, "timeout": 150},
    "close due review campaigns": {
        "func": "reviews.campaigns.tasks.close_due_campaigns",
        "minutes": 15,
        "timeout": 150,
    },
    "confirm review removals": {
        "func": "reviews.campaigns.tasks.confirm_campaign_removals",
        "minutes": 5,
        "timeout": 150,
    },
    "sync review and reclaim Jira tickets": {
        "func": "reviews.campaigns.tasks.sync_jira_tickets",
        "minutes": 1,
        "timeout": 90,
    },
    # A launch snapshots whole applications (minutes for a large campaign): on the long cluster.
    "launch recurring reviews": {
        "func": "reviews.campaigns.tasks.launch_recurring_reviews",
        "minutes": 60,
        "timeout": 1800,
        "cluster": "long",
    },
    # A sweep over every person of every reclaim policy: on the long cluster, as it grows with the directory.
    "reclaim inactive access": {
        "func": "reviews.reclaim.tasks.run_reclaim_sweep",
        "minutes": 60 * 24,
        "timeout": 1800,
        "cluster": "long",
    },
}
