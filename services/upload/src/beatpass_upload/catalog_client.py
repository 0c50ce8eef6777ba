"""Reads from the catalog's internal API, always on behalf of one producer."""

from __future__ import annotations

from urllib.parse import quote

import requests

from beatpass_common import request_ids


def _json(r: requests.Response):
    return r.json() if r.headers.get("Content-Type", "").startswith("application/json") else None


def _request_id() -> dict:
    """The public request's id, so the catalog logs under it too."""
    rid = request_ids.current()
    return {request_ids.HEADER: rid} if rid else {}


class CatalogUnavailable(Exception):
    pass


class CatalogClient:
    def __init__(self, base_url: str, secret: str, timeout: float = 10.0):
        """``secret``: the internal API credential (``internal_api_secret``), sent on every call."""
        self.base = base_url.rstrip("/")
        self.timeout = timeout
        self.auth = {"Authorization": f"Bearer {secret}"}
        self.http = requests.Session()
        self.http.headers.update(self.auth)

    def _url(self, producer_id: str, path: str) -> str:
        return f"{self.base}/internal/v1/producers/{quote(producer_id, safe='')}/{path}"

    def get(self, producer_id: str, path: str, params: dict | None = None) -> tuple[int, dict | None]:
        return self._request("GET", producer_id, path, params=params)

    def post(self, producer_id: str, path: str, body: dict) -> tuple[int, dict | None]:
        return self._request("POST", producer_id, path, json=body)

    def _request(self, method: str, producer_id: str, path: str, **kwargs) -> tuple[int, dict | None]:
        try:
            r = self.http.request(
                method, self._url(producer_id, path), timeout=self.timeout, headers=_request_id(), **kwargs
            )
        except requests.RequestException as exc:
            raise CatalogUnavailable(str(exc)) from exc
        # 401: the catalog does not take our credential (a rotation half done): our fault, not the producer's.
        if r.status_code >= 500 or r.status_code == 401:
            raise CatalogUnavailable(f"catalog answered {r.status_code}")
        return r.status_code, _json(r)

    def stream(self, producer_id: str, path: str, last_event_id: str | None):
        """The catalog's SSE response, to be relayed chunk by chunk."""
        headers = {**self.auth, **_request_id(), **({"Last-Event-ID": last_event_id} if last_event_id else {})}
        try:
            r = requests.get(self._url(producer_id, path), headers=headers, stream=True, timeout=(5, 60))
        except requests.RequestException as exc:
            raise CatalogUnavailable(str(exc)) from exc
        if r.status_code >= 500 or r.status_code == 401:
            r.close()
            raise CatalogUnavailable(f"catalog answered {r.status_code}")
        return r
