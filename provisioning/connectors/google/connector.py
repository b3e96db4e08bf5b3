"""Google Workspace through the Admin SDK Directory API (`google-api-python-client`, `google-auth`).

The client is built from the discovery document shipped inside google-api-python-client
(`static_discovery=True`): building it never fetches anything. Production credentials are a
service account acting as an admin by domain-wide delegation; tests pass `AnonymousCredentials`
and point `api_url` at an emulator. httplib2 connections are not thread-safe, so a client (an
authorized http and its service object) is only ever used by one thread at a time: the connector's
own for one-at-a-time calls, and spare ones, built on first need and kept for the connector's life,
for the threads of a concurrent batch of writes (`apply_changes`) or member read. Every thread's
calls go through the one request pace of the connector.

Idempotence comes from Google's own answers, so no read precedes a write: `members.insert` of a
member answers 409 `duplicate` (already a member) and `members.delete` of a non-member answers 404
"Resource Not Found: memberKey" (not a member). Writes are never retried inside the call: a retry
after a lost answer would turn our own add into "already a member"; the outbox retries them and
knows an earlier attempt may have gone through. Reads are retried in-call (`max_retries`, with the
library's exponential backoff) on 429, 5xx and rate-limit 403s.

Group external ids are the group's email address (lower case), which every Directory API call
accepts as `groupKey`: a role can be bound to a Google group by the address admins know, before
the first sync; a group whose address is changed in the Admin console keeps the old one as an
alias. People are keyed by Google's immutable user id.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

import google_auth_httplib2
import httplib2
from googleapiclient.discovery import build

from provisioning.connectors.base import (
    AddResult,
    Connector,
    ConnectorError,
    DirectoryGroup,
    DirectoryUser,
    MemberChange,
    PermanentError,
    RemoveResult,
    UserRef,
)
from provisioning.connectors.google.config import service_account_credentials
from provisioning.connectors.google.errors import classify

logger = logging.getLogger(__name__)
Item = TypeVar("Item")

USERS_PAGE = 500  # the most users.list serves per page
GROUPS_PAGE = 200  # groups.list and members.list allow at most 200
MEMBERS_PAGE = 200
NEVER = "1970-01-01T00:00:00.000Z"  # Google's lastLoginTime for a user who never signed in
_USER = "id,primaryEmail,aliases,name,orgUnitPath,organizations,relations,suspended,archived,lastLoginTime"
USER_FIELDS = f"nextPageToken,users({_USER})"
GROUP_FIELDS = "nextPageToken,groups(id,email,name,description)"
MEMBER_FIELDS = "nextPageToken,members(id,email,type,status)"


def parse_last_login(value: str | None) -> datetime | None:
    """Google's lastLoginTime; the epoch-zero value it sends for "never signed in" is None."""
    if not value or value == NEVER:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return None if moment.timestamp() == 0 else moment


def _primary(items: list[dict[str, Any]] | None) -> dict[str, Any]:
    items = items or []
    return next((i for i in items if i.get("primary")), items[0] if items else {})


def as_directory_user(user: dict[str, Any]) -> DirectoryUser:
    """A Directory API user resource as the connector interface's DirectoryUser."""
    organization = _primary(user.get("organizations"))
    manager = next((r.get("value") for r in user.get("relations") or [] if r.get("type") == "manager"), None)
    name = user.get("name") or {}
    full_name = name.get("fullName") or " ".join(p for p in (name.get("givenName"), name.get("familyName")) if p)
    email = (user.get("primaryEmail") or "").lower()
    if user.get("archived"):
        status = "deprovisioned"  # an archived user is a leaver whose data is kept
    elif user.get("suspended"):
        status = "suspended"
    else:
        status = "active"
    return DirectoryUser(
        external_id=str(user["id"]),
        email=email,
        name=full_name or email,
        status=status,
        manager_email=manager.strip().lower() if manager else None,
        department=organization.get("department") or "",
        title=organization.get("title") or "",
        last_login=parse_last_login(user.get("lastLoginTime")),
        aliases=tuple(a.lower() for a in user.get("aliases") or []),
        org_unit=user.get("orgUnitPath") or "",
    )


class GoogleConnector(Connector):
    """Users, groups and group memberships of one Google Workspace customer."""

    name = "google"

    def __init__(
        self,
        *,
        credentials: Any,
        customer_id: str = "my_customer",
        domain: str = "",
        api_url: str = "",
        timeout: float = 30.0,
        max_retries: int = 3,
        max_requests_per_minute: int = 1200,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.customer_id = customer_id or "my_customer"
        self.domain = domain.strip().lower()
        self.max_retries = max_retries
        self._interval = 60.0 / max_requests_per_minute if max_requests_per_minute > 0 else 0.0
        self._sleep = sleep
        self._last_request = 0.0
        self._pace_lock = threading.Lock()
        self._credentials, self._timeout = credentials, timeout
        self._options = {"api_endpoint": api_url} if api_url else None
        self._service = self._build_service()
        self._spare: list[Any] = []  # clients for the threads of concurrent calls, each idle here
        self._spare_lock = threading.Lock()
        self._known_users: dict[str, str] = {}
        self._closed = False

    @classmethod
    def from_settings(cls, config: Mapping[str, Any]) -> GoogleConnector:
        """Build from settings.GOOGLE; PermanentError saying what is missing or unreadable."""
        return cls(
            credentials=service_account_credentials(config),
            customer_id=config.get("CUSTOMER_ID") or "my_customer",
            domain=config.get("DOMAIN") or "",
            api_url=config.get("API_URL") or "",
            timeout=config.get("TIMEOUT_SECONDS", 30.0),
            max_retries=config.get("MAX_RETRIES", 3),
            max_requests_per_minute=config.get("MAX_REQUESTS_PER_MINUTE", 1200),
        )

    # -- plumbing --------------------------------------------------------------------------
    def _build_service(self) -> Any:
        """A Directory API client with its own httplib2 connection (one per thread: not thread-safe)."""
        http = google_auth_httplib2.AuthorizedHttp(self._credentials, http=httplib2.Http(timeout=self._timeout))
        try:
            return build(
                "admin",
                "directory_v1",
                http=http,
                static_discovery=True,
                cache_discovery=False,
                client_options=self._options,
            )
        except Exception as error:  # e.g. a malformed api_url
            raise PermanentError(f"Cannot build the Google Directory API client: {error}") from None

    def _pace(self) -> None:
        """Keep this connector under `max_requests_per_minute` (Google's default quota is 2,400 a
        minute per admin and project, shared with every other worker acting as that admin), across
        the threads of a concurrent read: they wait their turn here, then make their calls at once."""
        if not self._interval:
            return
        with self._pace_lock:
            wait = self._last_request + self._interval - time.monotonic()
            if wait > 0:
                self._sleep(wait)
            self._last_request = time.monotonic()

    def _execute(self, request: Any, action: str, *, retries: int | None = None) -> Any:
        if self._closed:
            raise PermanentError("This Google Workspace connector was closed.")
        self._pace()
        try:
            return request.execute(num_retries=self.max_retries if retries is None else retries)
        except Exception as error:
            raise classify(error, action) from None

    def _pages(self, resource: Any, action: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every item of a list call, following nextPageToken; an error raises (never a silent stop)."""
        request = resource.list(**params)
        while request is not None:
            response = self._execute(request, action) or {}
            yield from response.get(key) or []
            request = resource.list_next(request, response)

    def _scope(self) -> dict[str, str]:
        return {"domain": self.domain} if self.domain else {"customer": self.customer_id}

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._service.close()
            with self._spare_lock:
                spare, self._spare = self._spare, []
            for service in spare:
                service.close()

    def _concurrently(self, work: Callable[[Any, Item], Any], items: Sequence[Item], concurrency: int) -> list[Any]:
        """`work(service, item)` for every item on up to `concurrency` threads, in order; each call
        borrows a spare client that no other thread uses meanwhile (a client that cannot be built
        is the item's ConnectorError)."""

        def run(item: Item) -> Any:
            with self._spare_lock:
                service = self._spare.pop() if self._spare else None
            if service is None:
                try:
                    service = self._build_service()
                except ConnectorError as error:
                    return error
            try:
                return work(service, item)
            finally:
                with self._spare_lock:
                    closed = self._closed
                    if not closed:
                        self._spare.append(service)
                if closed:
                    service.close()

        with ThreadPoolExecutor(max_workers=min(concurrency, len(items))) as pool:
            return list(pool.map(run, items))

    # -- users -----------------------------------------------------------------------------
    def iter_users(self) -> Iterator[DirectoryUser]:
        users = self._service.users()
        params = {**self._scope(), "maxResults": USERS_PAGE, "fields": USER_FIELDS}
        for user in self._pages(users, "list users", "users", **params):
            yield as_directory_user(user)

    def _get_user(self, key: str, service: Any = None) -> dict[str, Any] | None:
        request = (service or self._service).users().get(userKey=key, fields=_USER)
        try:
            return self._execute(request, f"look up user {key}")
        except PermanentError as error:
            if error.status == 404:
                return None
            raise

    def read_users(self, external_ids: list[str]) -> dict[str, DirectoryUser | None]:
        """Each user a listing left out, by id: Google answers 404 only for a deleted user."""
        found: dict[str, DirectoryUser | None] = {}
        for user_id in external_ids:
            user = self._get_user(user_id)
            found[user_id] = as_directory_user(user) if user else None
        return found

    def find_user_by_email(self, email: str) -> DirectoryUser | None:
        user = self._get_user(email.strip())
        return as_directory_user(user) if user else None

    def _require_user(self, service: Any, user: UserRef) -> None:
        """Refuse an address that is no user of this Workspace (Google would add it as an external member)."""
        if user.external_id:
            return
        key = user.email.strip().lower()
        if key not in self._known_users:
            found = self._get_user(key, service)
            if found is None:
                raise PermanentError(f"No Google Workspace user has the email or alias {key}.", status=404)
            self._known_users[key] = str(found["id"])

    # -- groups ----------------------------------------------------------------------------
    def iter_groups(self) -> Iterator[DirectoryGroup]:
        groups = self._service.groups()
        params = {**self._scope(), "maxResults": GROUPS_PAGE, "fields": GROUP_FIELDS}
        for group in self._pages(groups, "list groups", "groups", **params):
            email = (group.get("email") or group["id"]).lower()
            yield DirectoryGroup(
                external_id=email, name=group.get("name") or email, description=group.get("description") or ""
            )

    def iter_group_members(self, group_id: str) -> Iterator[str]:
        return self._member_ids(self._service, group_id)

    def read_group_members(self, group_ids: list[str], concurrency: int = 1) -> dict[str, list[str] | ConnectorError]:
        """Several groups at once on up to `concurrency` threads, each call with a client of its
        own, all within this connector's request pace."""
        if concurrency <= 1 or len(group_ids) <= 1:
            return super().read_group_members(group_ids)

        def members_of(service: Any, group_id: str) -> list[str] | ConnectorError:
            try:
                return list(self._member_ids(service, group_id))
            except ConnectorError as error:
                return error

        return dict(zip(group_ids, self._concurrently(members_of, group_ids, concurrency), strict=True))

    def _member_ids(self, service: Any, group_id: str) -> Iterator[str]:
        """Ids of the direct members. A nested group (or the whole customer) is not flattened: it is
        logged and its id is passed on, so the sync counts it as a member it could not match."""
        members = service.members()
        action = f"list the members of group {group_id}"
        for member in self._pages(
            members, action, "members", groupKey=group_id, maxResults=MEMBERS_PAGE, fields=MEMBER_FIELDS
        ):
            if member.get("type", "USER") != "USER":
                logger.warning(
                    "Google group %s has a %s member %s: its members are not expanded; bind that group to a "
                    "role of its own to govern them.",
                    group_id,
                    member.get("type"),
                    member.get("email") or member.get("id"),
                )
            yield str(member["id"])

    def change_bucket(self, group_id: str) -> str:
        """Membership writes share one bucket (the Directory API quota; a rateLimitExceeded closes it)."""
        return "members"

    def apply_changes(self, changes: list[MemberChange], concurrency: int = 1) -> list[Any]:
        """The writes on up to `concurrency` threads (each call with a client of its own, all within
        the request pace); one outcome per change, in order, exactly as one-at-a-time calls give."""
        if concurrency <= 1 or len(changes) <= 1:
            return super().apply_changes(changes)
        return self._concurrently(self._apply_one, changes, concurrency)

    def _apply_one(self, service: Any, change: MemberChange) -> AddResult | RemoveResult | ConnectorError:
        try:
            if change.action == MemberChange.ADD:
                return self._add(service, change.group_id, change.user)
            return self._remove(service, change.group_id, change.user)
        except ConnectorError as error:
            return error

    def add_member(self, group_id: str, user: UserRef) -> AddResult:
        return self._add(self._service, group_id, user)

    def remove_member(self, group_id: str, user: UserRef) -> RemoveResult:
        return self._remove(self._service, group_id, user)

    def _add(self, service: Any, group_id: str, user: UserRef) -> AddResult:
        self._require_user(service, user)
        request = service.members().insert(groupKey=group_id, body={"email": user.email, "role": "MEMBER"})
        try:
            self._execute(request, f"add {user.email} to group {group_id}", retries=0)
        except PermanentError as error:
            if error.status == 409:  # "Member already exists."
                return AddResult.ALREADY_MEMBER
            raise
        return AddResult.ADDED

    def _remove(self, service: Any, group_id: str, user: UserRef) -> RemoveResult:
        member_key = user.external_id or self._known_users.get(user.email.strip().lower()) or user.email
        request = service.members().delete(groupKey=group_id, memberKey=member_key)
        try:
            self._execute(request, f"remove {user.email} from group {group_id}", retries=0)
        except PermanentError as error:
            if error.status != 404 or "groupKey" in error.message:
                raise
            # "Resource Not Found: memberKey": not a member (or no such user). Any other 404 text:
            # make sure it is not the group that is missing.
            if "memberKey" not in error.message and not self._group_exists(service, group_id):
                raise
            return RemoveResult.NOT_A_MEMBER
        return RemoveResult.REMOVED

    def _group_exists(self, service: Any, group_id: str) -> bool:
        request = service.groups().get(groupKey=group_id, fields="id")
        try:
            self._execute(request, f"read group {group_id}")
        except ConnectorError as error:
            if error.status == 404:
                return False
            raise
        return True
