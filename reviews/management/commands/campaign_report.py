"""Write a review campaign's evidence report as CSV: manage.py campaign_report <id> [-o file.csv]."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from reviews.campaigns.report import report_csv_lines
from reviews.models import ReviewCampaign


class Command(BaseCommand):
    help = "Write a review campaign's report (population, decisions, removals, Jira keys) as CSV."

    def add_arguments(self, parser) -> None:
        parser.add_argument("campaign_id", type=int)
        parser.add_argument("-o", "--output", help="file to write (default: standard output)")

    def handle(self, *args, campaign_id: int, output: str | None = None, **options) -> None:
        campaign = ReviewCampaign.objects.filter(pk=campaign_id).first()
        if campaign is None:
            raise CommandError(f"No review campaign with id {campaign_id}.")
        try:
            with open(output, "w", newline="", encoding="utf-8") if output else _stdout() as out:
                for chunk in report_csv_lines(campaign):
                    out.write(chunk)
        except OSError as error:
            raise CommandError(f"Cannot write the report to {output}: {error.strerror}.") from error


class _stdout:
    def __enter__(self):
        return sys.stdout

    def __exit__(self, *exc) -> None:
        sys.stdout.flush()
