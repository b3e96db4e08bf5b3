from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Requests, approvals and grants"

    def ready(self) -> None:
        from governance import services
        from governance.jira import catalog_signals
        from provisioning.outbox import port as outbox

        # provisioning knows nothing of grants; it reports settled changes to whoever listens.
        outbox.on_change_settled(services.membership_change_settled)
        outbox.on_fulfilment_done(services.fulfilment_task_done)
        catalog_signals.connect()  # catalog changes queue a publication to Jira's request form
