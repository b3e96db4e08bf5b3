"""Okta membership writes: blind and idempotent, a batch of them at once on the connector's loop.

`PUT` / `DELETE /api/v1/groups/{gid}/users/{uid}` answer 204 whether or not the membership
existed, so nothing is read first; a DELETE answered 404 means already absent. The user's id
comes from sync when known, else from one look-up per process (cached by email).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lib.http import RateWindow
from provisioning.connectors.async_writes import AsyncMembershipWrites
from provisioning.connectors.base import (
    AddResult,
    ConnectorError,
    MemberChange,
    PermanentError,
    RemoveResult,
    UserRef,
)
from provisioning.connectors.okta.buckets import MEMBERSHIP_WRITES
from provisioning.connectors.okta.sdk import model_value


class MembershipWrites(AsyncMembershipWrites):
    """Mixed into OktaConnector (it provides `_acall`, `_alookup`, `_run`, `_client`, `_http`)."""

    _user_ids: dict[str, str]
    _http: Any
    _client: Any

    async def _auser_id(self, user: UserRef) -> str:
        """The id from sync when known; else looked up once per process (cached by email)."""
        if user.external_id:
            return user.external_id
        key = user.email.lower()
        if key not in self._user_ids:
            found = await self._alookup(user.email)
            if found is None:
                raise PermanentError(f"No Okta user has the login or email {user.email}.", status=404)
            self._user_ids[key] = found["id"]
        return self._user_ids[key]

    def change_bucket(self, group_id: str) -> str:
        return MEMBERSHIP_WRITES

    def take_rate_windows(self) -> dict[str, RateWindow]:
        if self._http is None:
            return {}
        windows, self._http.windows = self._http.windows, {}
        return windows

    def _on_loop(self, coroutine: Any) -> Any:
        return self._run(coroutine)  # type: ignore[attr-defined]

    async def _awrite(self, change: MemberChange) -> AddResult | RemoveResult:
        user_id = await self._auser_id(change.user)
        if change.action == MemberChange.ADD:
            what = f"add {change.user.email} to group {change.group_id}"
            await self._achange(what, self._client.assign_user_to_group, change.group_id, user_id)
            return AddResult.ADDED
        what = f"remove {change.user.email} from group {change.group_id}"
        try:
            await self._achange(what, self._client.unassign_user_from_group, change.group_id, user_id)
        except PermanentError as error:
            if error.status == 404:  # the user is not in the group (or either is gone): already absent
                return RemoveResult.NOT_A_MEMBER
            raise
        return RemoveResult.REMOVED

    async def _achange(self, what: str, method: Callable[..., Any], group_id: str, user_id: str) -> None:
        try:
            await self._acall(what, method, group_id, user_id)
        except PermanentError as error:
            if error.status in (400, 403):
                raise await self._aexplain_refusal(group_id, error) from None
            raise

    async def _aexplain_refusal(self, group_id: str, error: PermanentError) -> PermanentError:
        """Okta answers a plain 403 for app-imported groups; say so when that is the reason."""
        try:
            group, _, _ = await self._acall(f"read group {group_id}", self._client.get_group, group_id)
        except ConnectorError:
            return error
        group_type = group.type.value if hasattr(group.type, "value") else str(group.type or "")
        if group_type and group_type != "OKTA_GROUP":
            name = model_value(group.profile, "name") or group_id
            return PermanentError(
                f"Okta group {name!r} ({group_id}) is of type {group_type}: its members are managed by "
                f"its source (e.g. an Active Directory import), so Okta refuses changes. {error.message}",
                status=error.status,
            )
        return PermanentError(
            f"{error.message} — check that the Okta admin role or OAuth scopes allow managing this group.",
            status=error.status,
        )
