from fastapi import FastAPI

MESSAGE = "fastapi v1"

app = FastAPI()


@app.get("/")
def index():
    return {"message": MESSAGE}


@app.get("/items/{item_id}")
def read_item(item_id: int, q: str | None = None):
    return {"item_id": item_id, "q": q}
