"""The FastAPI app whose OpenAPI document and 422 bodies are the test fixtures (see gen.py)."""
from typing import Dict, List, Optional
from uuid import UUID
from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.security import OAuth2PasswordBearer, OAuth2PasswordRequestForm
from pydantic import BaseModel, Field

oauth2 = OAuth2PasswordBearer(tokenUrl="token")

class Item(BaseModel):
    name: str
    description: Optional[str] = None
    price: float = Field(..., gt=0)
    tax: Optional[float] = None
    tags: List[str] = []

class Order(BaseModel):
    items: List[Item]
    note: Optional[str] = Field(None, max_length=20)
    quantities: Dict[str, int] = {}

def make_app(**kw):
    app = FastAPI(title="Shop", version="0.1.0", **kw)

    @app.get("/")
    def root():
        return {"ok": True}

    @app.get("/health", tags=["ops"])
    def health():
        return {"status": "ok"}

    @app.get("/items/", tags=["items"], response_model=List[Item])
    def read_items(skip: int = 0, limit: int = Query(100, le=100)):
        return []

    @app.post("/items/", tags=["items"], response_model=Item)
    def create_item(item: Item):
        return item

    @app.get("/items/latest", tags=["items"], response_model=Item)
    def read_latest_item():
        return Item(name="x", price=1)

    @app.get("/items/{item_id}", tags=["items"], response_model=Item)
    def read_item(item_id: int, q: Optional[str] = None):
        return Item(name="x", price=1)

    @app.put("/items/{item_id}", tags=["items"], response_model=Item)
    def update_item(item_id: int, item: Item):
        return item

    @app.delete("/items/{item_id}", tags=["items"])
    def delete_item(item_id: int):
        return {}

    @app.get("/users/me", tags=["users"])
    def read_user_me(token: str = Depends(oauth2)):
        return {}

    @app.get("/users/{user_id}", tags=["users"])
    def read_user(user_id: UUID):
        return {}

    @app.get("/users/{user_id}/orders/{order_id}", tags=["users"])
    def read_order(user_id: UUID, order_id: int):
        return {}

    @app.post("/users/{user_id}/orders", tags=["users"])
    def create_order(user_id: UUID, order: Order):
        return {}

    @app.get("/files/{file_path:path}")
    def read_file(file_path: str):
        return {"file_path": file_path}

    @app.post("/token", tags=["auth"])
    def login(form: OAuth2PasswordRequestForm = Depends()):
        raise HTTPException(status_code=401, detail="Incorrect username or password")

    @app.post("/checkout")
    def checkout():
        raise HTTPException(status_code=422, detail="Cart is empty")

    return app

app = make_app()
