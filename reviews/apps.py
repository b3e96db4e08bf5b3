from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"
    verbose_name = "Access reviews"

    def ready(self) -> None:
        from governance.lifecycle import ports
        from reviews import metrics
        from reviews.campaigns import catalog_code as campaigns_catalog_code
        from reviews.campaigns import evidence, lifecycle
        from reviews.reclaim import catalog_code

        evidence.register()  # the review sheet of governance's evidence export
        metrics.register()  # the reviews' and Auto Reclaim's sections of governance's metrics
        catalog_code.register()  # policies/reclaim.yaml in governance's catalog-as-code
        campaigns_catalog_code.register()  # policies/review-templates.yaml, the same way
        # governance announces leavers and movers; reviews moves and opens review items.
        ports.on_leaver(lifecycle.move_leaver_items)
        ports.on_mover(lifecycle.open_mover_review)
