from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"
    verbose_name = "Access reviews"

    def ready(self) -> None:
        from reviews import metrics
        from reviews.campaigns import evidence
        from reviews.reclaim import catalog_code

        evidence.register()  # the review sheet of governance's evidence export
        metrics.register()  # the reviews' and Auto Reclaim's sections of governance's metrics
        catalog_code.register()  # policies/reclaim.yaml in governance's catalog-as-code
