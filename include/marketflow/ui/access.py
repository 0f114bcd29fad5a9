"""Who is asking: the same Airflow user, token and permissions as the rest of the web UI.

A plugin's FastAPI app is not behind Airflow's login, so every page depends on `current_viewer`.
It reuses Airflow's own resolution (`core_api.security.get_user`: a Bearer header, else the `_token`
cookie the UI sets at login, validated by the configured auth manager, revocations included) and
the auth manager's authorization, so it works the same with the simple, FAB or Keycloak managers.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Depends, HTTPException, Request, status
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

_bearer = HTTPBearer(auto_error=False)


@dataclass(frozen=True)
class Viewer:
    """An authenticated Airflow user, and whether they may read customers' contact details.

    Contact details are guarded like connection credentials: only users the auth manager lets read
    connections (simple auth manager: op and admin) see raw e-mail addresses; everyone else
    (viewer, user) sees masked addresses and pseudonyms.
    """

    username: str
    can_see_contacts: bool


class NotAuthenticated(Exception):
    """No valid Airflow token on the request."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


async def current_viewer(
    request: Request, bearer: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> Viewer:
    """FastAPI dependency: the signed-in user, or `NotAuthenticated` / 403."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
    from airflow.api_fastapi.core_api.security import get_user

    try:
        user = await get_user(request, _oauth_token=None, bearer_credentials=bearer)
    except HTTPException as exc:
        raise NotAuthenticated(str(exc.detail)) from exc
    auth_manager = get_auth_manager()
    if not auth_manager.is_authorized_view(access_view=AccessView.WEBSITE, user=user):
        raise HTTPException(status_code=status.HTTP_403_FORBIDDEN, detail="Not allowed to use the web UI")
    return Viewer(
        username=user.get_name(),
        can_see_contacts=auth_manager.is_authorized_connection(method="GET", user=user),
    )


def not_authenticated_response(request: Request, exc: NotAuthenticated) -> Response:
    """Browsers go to Airflow's login page and come back; API clients get a plain 401."""
    if "text/html" in request.headers.get("accept", ""):
        from airflow.api_fastapi.app import get_auth_manager

        login = get_auth_manager().get_url_login(next_url=str(request.url))
        return RedirectResponse(login, status_code=status.HTTP_303_SEE_OTHER)
    return JSONResponse(
        {"detail": exc.detail},
        status_code=status.HTTP_401_UNAUTHORIZED,
        headers={"WWW-Authenticate": "Bearer"},
    )
