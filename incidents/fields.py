"""Field types of the incident bodies (staff API and portal): each bounded by
its column or vocabulary, so the decoder checks it, `validation.bodies` names
every bad field at once, and the OpenAPI document shows the bounds.

No `from __future__ import annotations` here: these are values used as types."""

from typing import Literal

from incidents import workflow
from incidents.tables import Incident, TimelineEntry
from validation.bodies import text
from validation.columns import max_length

Title = text(max_length(Incident.title), min_length=1)
Description = text(max_length(Incident.description))
Note = text(max_length(TimelineEntry.body))
CommentText = text(max_length(TimelineEntry.body), min_length=1)
Category = Literal[workflow.CATEGORIES]
ManualSource = Literal[workflow.MANUAL_SOURCES]
Priority = Literal[workflow.PRIORITIES]
Status = Literal[workflow.STATUSES]
Visibility = Literal[workflow.VISIBILITIES]


