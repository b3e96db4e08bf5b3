from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Requests, approvals and grants"

    def ready(self) -> None:
        from governance.adminkit import read_only_records
        from governance.grants.listener import GrantListener
        from governance.jira import catalog_signals
        from governance.lifecycle import metrics as lifecycle_metrics
        from governance.slack import outcomes as slack_outcomes
        from governance.transitions import on_move
        from provisioning.outbox import port

        # provisioning knows nothing of grants; it reports settled changes through its port.
        port.bind(GrantListener())
        catalog_signals.connect()  # catalog changes queue a publication to Jira's request form
        lifecycle_metrics.register()  # joiners, movers, leavers in the metrics
        on_move(slack_outcomes.moved)  # requesters hear each outcome in Slack (with Slack on)
        # Every admin (autodiscovered before this runs): no Save or Delete on records nothing can edit.
        read_only_records()
