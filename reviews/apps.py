from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"
    verbose_name = "Access reviews"

    def ready(self) -> None:
        from governance import demo
        from governance.lifecycle import ports
        from reviews import metrics
        from reviews.campaigns import catalog_code as campaigns_catalog_code
        from reviews.campaigns import evidence, lifecycle
        from reviews.reclaim import catalog_code, keep
        from reviews.reclaim.demo import load_reclaim_policy

        evidence.register()  # the review sheet of governance's evidence export
        metrics.register()  # the reviews' and Auto Reclaim's sections of governance's metrics
        catalog_code.register()  # policies/reclaim.yaml in governance's catalog-as-code
        keep.register()  # the "Keep my access" button of a warning in Slack (governance's button port)
        demo.add_to_demo(load_reclaim_policy)  # the demo company's Auto Reclaim policy
        campaigns_catalog_code.register()  # policies/review-templates.yaml, the same way
        # governance announces leavers and movers; reviews moves and opens review items.
        ports.on_leaver(lifecycle.move_leaver_items)
        ports.on_mover(lifecycle.open_mover_review)
