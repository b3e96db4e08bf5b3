"""manage.py load_demo — the fictional company Northwind Robotics, into an empty database."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from catalog.models import Person
from governance.demo import DemoDirectoryError, demo_directory, load_demo


class Command(BaseCommand):
    help = "Load demo data (people, applications, roles, groups, policies). Refuses a non-empty directory."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--if-empty", action="store_true", help="Do nothing (and succeed) if data exists.")

    def handle(self, *args, if_empty: bool = False, **options) -> None:
        if Person.objects.exists():
            if if_empty:
                self.stdout.write("Directory not empty: demo data not loaded.")
                return
            raise CommandError("The directory already has people; load_demo only fills an empty database.")
        try:
            counts = load_demo()
        except DemoDirectoryError as error:
            raise CommandError(str(error)) from error
        where = demo_directory()
        self.stdout.write(
            self.style.SUCCESS(
                "Loaded Northwind Robotics: "
                + ", ".join(f"{v} {k}" for k, v in counts.items())
                + f" (groups in the {where.connector!r} directory, people @{where.domain})"
            )
        )
