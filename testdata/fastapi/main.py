"""A FastAPI app that fails the way production apps do.

The end-to-end tests run it exactly as in production:
    gunicorn -w 2 -k uvicorn.workers.UvicornWorker main:app
with Debian's python3-fastapi, python3-uvicorn and gunicorn.
"""
import asyncio
import os
import signal

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

app = FastAPI(title="faultline test app")
bearer = HTTPBearer(auto_error=False)
TOKEN = "test-token"


class Item(BaseModel):
    name: str
    price: float = Field(gt=0)
    tags: list[str] = []


@app.get("/items/{item_id}")
async def read_item(item_id: int):
    if item_id > 1000:
        raise HTTPException(status_code=404, detail="Item not found")
    return {"item_id": item_id, "name": f"item {item_id}"}


@app.post("/items")
async def create_item(item: Item):
    return item


@app.get("/users/{user_id}/orders/{order_id}")
async def read_order(user_id: int, order_id: str):
    return {"user_id": user_id, "order_id": order_id}


@app.get("/secure")
async def secure(creds: HTTPAuthorizationCredentials | None = Depends(bearer)):
    if creds is None:
        raise HTTPException(status_code=401, detail="Not authenticated",
                            headers={"WWW-Authenticate": "Bearer"})
    if creds.credentials != TOKEN:
        raise HTTPException(status_code=401, detail="Invalid token",
                            headers={"WWW-Authenticate": "Bearer"})
    return {"user": "alice"}


@app.get("/boom")
async def boom():
    raise RuntimeError("the database went away")


@app.get("/slow")
async def slow(seconds: float = 1.0):
    await asyncio.sleep(seconds)
    return {"slept": seconds}


@app.get("/events")
async def events(count: int = 3, gap: float = 0.5):
    async def stream():
        for i in range(count):
            yield f"id: {i}\ndata: event {i}\n\n"
            await asyncio.sleep(gap)
    return StreamingResponse(stream(), media_type="text/event-stream")


@app.post("/upload")
async def upload(request: Request):
    n = 0
    async for chunk in request.stream():
        n += len(chunk)
    return {"bytes": n}


@app.get("/echo")
async def echo(request: Request):
    return {"headers": dict(request.headers), "path": request.url.path,
            "query": request.url.query}


# Faults for the reliability suite (reliability/): a worker that dies
# mid-request, as under the OOM killer, before or while it answers.


@app.get("/die")
async def die(after: float = 0.0):
    await asyncio.sleep(after)
    os.kill(os.getpid(), signal.SIGKILL)


@app.get("/die-stream")
async def die_stream(chunks: int = 3, gap: float = 0.1):
    async def stream():
        for i in range(chunks):
            yield f"chunk {i}\n"
            await asyncio.sleep(gap)
        os.kill(os.getpid(), signal.SIGKILL)
    return StreamingResponse(stream(), media_type="text/plain")


@app.get("/pid")
async def pid():
    return {"pid": os.getpid()}
