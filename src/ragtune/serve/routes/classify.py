"""``POST /v1/classify``: labels from a classifier trained with ``ragtune train classify``."""

from __future__ import annotations

from typing import Any

import anyio
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from ragtune.serve import pipelines
from ragtune.serve.errors import APIError
from ragtune.serve.routes import state

router = APIRouter()


class ClassifyRequest(BaseModel):
    model: str = Field(description="classify:NAME or NAME of a trained classifier")
    input: str | list[str] = Field(description="one text or a list of up to 256")


def _scores(row: Any, labels: list[str] | None) -> dict[str, float]:
    if isinstance(row, dict):
        return {str(k): float(v) for k, v in row.items()}
    values = [float(x) for x in row]
    names = labels or [str(i) for i in range(len(values))]
    return dict(zip(names, values, strict=False))


@router.post("/v1/classify")
async def classify(body: ClassifyRequest, request: Request):
    st = state(request)
    texts = [body.input] if isinstance(body.input, str) else list(body.input)
    if not texts or len(texts) > 256 or any(not isinstance(t, str) or not t.strip() for t in texts):
        raise APIError(
            400,
            "input: send one non-empty text or a list of 1 to 256 non-empty texts",
            "invalid_request",
            "input",
        )
    name = body.model.removeprefix("classify:")
    found = [m for m in pipelines.trained_models(st.settings) if m["name"] == name and m["classifier"]]
    if not found:
        raise APIError(
            404,
            f"the model {body.model!r} is not a trained classifier; see GET /v1/models for "
            "classify:NAME entries",
            "model_not_found",
            "model",
        )

    def work():
        clf, lock = st.classifier(name, found[0]["root"])
        with lock:
            proba = clf.predict_proba(texts)
        labels = [str(x) for x in clf.labels]
        return [{"index": i, "label": labels[int(row.argmax())], "scores": _scores(row, labels)}
                for i, row in enumerate(proba)]

    data = await anyio.to_thread.run_sync(work)
    return {"object": "list", "model": body.model, "data": data}
