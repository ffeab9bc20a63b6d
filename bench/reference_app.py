"""The floor for bench/decide_latency.py: a bare FastAPI + uvicorn POST /v1/decide that checks
the bearer key and returns a fixed answer, served the way `leash up` serves (httptools, uvloop).

    python -m bench.reference_app --port 8765
"""

from __future__ import annotations

import argparse
import hmac

import uvicorn
from fastapi import FastAPI, Header, HTTPException
from pydantic import BaseModel

from ingest.api import OrjsonResponse


class Ask(BaseModel):
    principal: str
    action: str
    source: str = ""
    resources: list[str] = []


def build(key: str) -> FastAPI:
    app = FastAPI()

    @app.post("/v1/decide")
    async def decide(ask: Ask, authorization: str = Header("")) -> OrjsonResponse:
        if not hmac.compare_digest(authorization.encode(), f"Bearer {key}".encode()):
            raise HTTPException(401)
        body = {"decision": "allow", "reason": f"reference: {ask.action}", "rule": "none"}
        return OrjsonResponse(body)

    @app.get("/healthz")
    async def healthz() -> dict[str, bool]:
        return {"ok": True}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--key", default="bench-admin-key")
    args = parser.parse_args()
    uvicorn.run(
        build(args.key),
        host="127.0.0.1",
        port=args.port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )


if __name__ == "__main__":
    main()
