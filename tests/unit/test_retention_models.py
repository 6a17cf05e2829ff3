"""The purge finds every table that names an incident, foreign key or plain column, so a
purged incident leaves no row behind that points at it."""

from __future__ import annotations

from app import models
from app.services.retention.purge import referencing_models


def test_every_table_naming_an_incident_is_purged_but_articles_and_the_audit_log():
    found = {m.__name__ for m in referencing_models()}
    # foreign keys to the incident and plain incident_id columns alike
    assert {"Alert", "AlertGroup", "LinkedTicket", "Task", "Communication", "Mention"} <= found
    assert {"ProblemIncident", "ChangeLink", "ArticleLink", "IncidentService"} <= found
    # articles written from an incident outlive it; the audit log is never purged
    assert not {"KnowledgeArticle", "AuditRecord", "TimelineEvent", "Incident"} & found
    # and nothing else in the models names an incident
    for name in models.__all__:
        model = getattr(models, name)
        fields = getattr(getattr(model, "_meta", None), "fields_map", {})
        if "incident" in fields or "incident_id" in fields:
            assert name in found | {"KnowledgeArticle", "TimelineEvent"}, name
