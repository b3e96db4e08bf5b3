from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    name = "provisioning"
    verbose_name = "Provisioning"

    def ready(self) -> None:
        from catalog.registries import bind_connector_choices
        from provisioning import checks  # noqa: F401  (registers the start-up checks)
        from provisioning.connectors import connector_choices

        bind_connector_choices(connector_choices)
