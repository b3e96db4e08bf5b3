from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Who signs in: company SSO (OpenID Connect), break-glass passwords, link sessions."""

    name = "accounts"
    verbose_name = "Sign-in"
