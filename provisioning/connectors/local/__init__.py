"""The embedded directory held in Gatehouse's own database: no settings, always configured."""

from __future__ import annotations

from provisioning.connectors.declaration import ConnectorDeclaration, ConnectorSettings


def build(values: ConnectorSettings):
    from provisioning.connectors.local.connector import LocalConnector

    return LocalConnector()


CONNECTOR = ConnectorDeclaration(name="local", label="Local directory", build=build)
