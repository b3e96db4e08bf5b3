"""Reviewer pages and the one place people sign in (include at the site root: path("", include("reviews.urls")))."""

from django.contrib.auth import views as auth_views
from django.urls import path, reverse_lazy

from reviews.campaigns import views

app_name = "reviews"

urlpatterns = [
    # Sign-in lives here only; company SSO replaces these two views later.
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(template_name="reviews/login.html", next_page=reverse_lazy("reviews:home")),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(next_page=reverse_lazy("reviews:login")), name="logout"),
    path("reviews/", views.home, name="home"),
    path("reviews/link/<str:token>/", views.review_link, name="link"),
    path("reviews/<int:campaign_id>/", views.campaign_page, name="campaign"),
    path("reviews/<int:campaign_id>/items/<int:item_id>/", views.decide, name="decide"),
    path("reviews/<int:campaign_id>/bulk/", views.bulk, name="bulk"),
    path("reviews/<int:campaign_id>/submit/", views.submit, name="submit"),
]
