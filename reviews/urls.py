"""Reviewer pages and the Auto Reclaim warning's page (include at the site root:
path("", include("reviews.urls"))); sign-in is in accounts."""

from django.urls import path

from reviews.campaigns import views
from reviews.reclaim import views as reclaim_views

app_name = "reviews"

urlpatterns = [
    path("reviews/", views.home, name="home"),
    path("reviews/link/<str:token>/", views.review_link, name="link"),
    path("reviews/<int:campaign_id>/", views.campaign_page, name="campaign"),
    path("reviews/<int:campaign_id>/items/<int:item_id>/", views.decide, name="decide"),
    path("reviews/<int:campaign_id>/bulk/", views.bulk, name="bulk"),
    path("reviews/<int:campaign_id>/submit/", views.submit, name="submit"),
    path("reclaim/keep/<str:token>/", reclaim_views.keep_page, name="reclaim-keep"),
]
