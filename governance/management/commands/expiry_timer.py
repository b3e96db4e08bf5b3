"""manage.py expiry_timer — the long-running process that ends each grant on the second.

It waits for the next grant's `expires_at` (looking again at least every --poll seconds for grants
activated or extended meanwhile), ends what is due and queues the removals. A second thread, the
removal lane, performs due removals (expiries and revocations) at once, beside the task cluster,
so they never wait behind its queue (--no-removal-lane leaves them to the cluster). SIGTERM or
SIGINT stops it between two passes. The task cluster's minute sweep ("expire due grants") still
ends anything due should this process not run.
"""

from __future__ import annotations

import logging
import signal
import threading

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, close_old_connections

from governance.grants.expiry import POLL_SECONDS, RemovalLane, run_expiry_timer
from governance.services import expire_due_grants

logger = logging.getLogger(__name__)

#: seconds to wait after the database failed before trying again
DATABASE_RETRY_SECONDS = 5.0


class Command(BaseCommand):
    help = "Run the expiry timer: end each grant within a second of its expiry (stop with SIGTERM or Ctrl-C)."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--poll",
            type=float,
            default=POLL_SECONDS,
            help=f"Longest wait in seconds before looking for new or changed grants (default {POLL_SECONDS:g}).",
        )
        parser.add_argument("--once", action="store_true", help="End what is due now and exit.")
        parser.add_argument(
            "--no-removal-lane",
            action="store_true",
            help="Leave the removals to the task cluster instead of performing them in this process too.",
        )

    def handle(
        self, *args, poll: float = POLL_SECONDS, once: bool = False, no_removal_lane: bool = False, **options
    ) -> None:
        if poll <= 0:
            raise CommandError("--poll must be a positive number of seconds.")
        stop = threading.Event()
        if once:
            self.stdout.write(f"expired: {expire_due_grants()}")
            return
        self._stop_on_signals(stop)
        lane = None if no_removal_lane else RemovalLane(stop, retry_seconds=DATABASE_RETRY_SECONDS)
        where = "removals performed here too" if lane else "removals left to the task cluster"
        self.stdout.write(f"expiry timer running (polling at least every {poll:g} s; {where}); SIGTERM stops it")
        self.stdout.flush()
        expired = 0
        wake = lane.wake if lane else (lambda count: None)
        while not stop.is_set():
            try:
                expired += run_expiry_timer(should_stop=stop.is_set, wait=stop.wait, poll_seconds=poll, ended=wake)
            except DatabaseError as error:  # the database restarted or is unreachable: try again shortly
                logger.warning("expiry timer: database error, retrying in %g s: %s", DATABASE_RETRY_SECONDS, error)
                close_old_connections()
                stop.wait(DATABASE_RETRY_SECONDS)
        removed = lane.join() if lane else 0
        self.stdout.write(f"expiry timer stopped (ended {expired} grants; the removal lane made {removed} removals)")
        self.stdout.flush()

    @staticmethod
    def _stop_on_signals(stop: threading.Event) -> None:
        def handler(signum, frame) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
