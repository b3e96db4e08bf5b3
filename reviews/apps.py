from django.apps import AppConfig


class ReviewsConfig(AppConfig):
    name = "reviews"
    verbose_name = "Access reviews"

    def ready(self) -> None:
        from reviews.campaigns import evidence

        evidence.register()  # the review sheet of governance's evidence export
