"""Deal pipelines: the default "Sales Pipeline" with HubSpot's stage ids, and one custom pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

EPOCH_ISO = "1970-01-01T00:00:00Z"


@dataclass(frozen=True, slots=True)
class Stage:
    id: str
    label: str
    probability: str
    closed: bool


@dataclass(frozen=True, slots=True)
class Pipeline:
    id: str
    label: str
    display_order: int
    stages: tuple[Stage, ...]
    created_iso: str = EPOCH_ISO


DEFAULT_PIPELINE = Pipeline(
    "default",
    "Sales Pipeline",
    0,
    (
        Stage("appointmentscheduled", "Appointment Scheduled", "0.2", False),
        Stage("qualifiedtobuy", "Qualified To Buy", "0.4", False),
        Stage("presentationscheduled", "Presentation Scheduled", "0.6", False),
        Stage("decisionmakerboughtin", "Decision Maker Bought-In", "0.8", False),
        Stage("contractsent", "Contract Sent", "0.9", False),
        Stage("closedwon", "Closed Won", "1.0", True),
        Stage("closedlost", "Closed Lost", "0.0", True),
    ),
)
# Pipelines created in a portal get numeric ids, and so do their stages.
RENEWALS_PIPELINE = Pipeline(
    "75123456",
    "Renewals Pipeline",
    1,
    (
        Stage("75123457", "Renewal Due", "0.3", False),
        Stage("75123458", "Negotiating", "0.7", False),
        Stage("75123459", "Renewed", "1.0", True),
        Stage("75123460", "Churned", "0.0", True),
    ),
    "2024-05-02T09:30:00.000Z",
)
PIPELINES: tuple[Pipeline, ...] = (DEFAULT_PIPELINE, RENEWALS_PIPELINE)
STAGES: dict[str, tuple[Pipeline, Stage]] = {stage.id: (p, stage) for p in PIPELINES for stage in p.stages}
PIPELINE_BY_ID: dict[str, Pipeline] = {p.id: p for p in PIPELINES}


def render_stage(stage: Stage, order: int, created_iso: str) -> dict[str, Any]:
    return {
        "label": stage.label,
        "displayOrder": order,
        "metadata": {"isClosed": "true" if stage.closed else "false", "probability": stage.probability},
        "id": stage.id,
        "createdAt": created_iso,
        "updatedAt": created_iso,
        "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
        "archived": False,
    }


def render_pipeline(pipeline: Pipeline) -> dict[str, Any]:
    return {
        "label": pipeline.label,
        "displayOrder": pipeline.display_order,
        "id": pipeline.id,
        "stages": [render_stage(s, i, pipeline.created_iso) for i, s in enumerate(pipeline.stages)],
        "createdAt": pipeline.created_iso,
        "updatedAt": pipeline.created_iso,
        "archived": False,
    }


def stage_flags(stage_id: str) -> dict[str, str]:
    """The calculated deal properties HubSpot derives from the stage's metadata."""
    found = STAGES.get(stage_id)
    if found is None:
        return {}
    _, stage = found
    won = stage.closed and stage.probability == "1.0"
    return {
        "hs_is_closed": "true" if stage.closed else "false",
        "hs_is_closed_won": "true" if won else "false",
        "hs_deal_stage_probability": stage.probability,
    }
