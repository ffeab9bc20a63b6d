"""/docs works without internet access: Swagger UI's files are served by Leash itself."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient


def test_docs_page_loads_every_asset_from_leash(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets, page.text[:500]
    assert not [a for a in assets if a.startswith(("http://", "https://", "//"))]
    for asset in assets:
        if asset.startswith("data:"):
            continue
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert len(response.content) > 1000, asset
    assert "/openapi.json" in page.text
