"""What runs with every incident change, in its transaction: the consumers of the writer.

Registered by whatever writes incidents (the server, the command line), so that a change
is the same change wherever it is made: its ticket sync queued, its mentions kept, its
service linked.
"""

from __future__ import annotations

from collections.abc import Callable

from app.services import writer
from app.services.catalog import links as catalog
from app.services.chatops import channels
from app.services.comms import notify
from app.services.itsm import outbound as itsm_outbound
from app.services.people import mentions
from app.services.response import escalation, playbooks

# In this order: the catalog links the declared service before playbooks match on it;
# notifications last, from the change as the others left it.
HOOKS = (
    itsm_outbound.on_incident_change,
    mentions.on_incident_change,
    catalog.on_incident_change,
    playbooks.on_incident_change,
    escalation.on_incident_change,
    channels.on_incident_change,
    notify.on_incident_change,
)


def register() -> Callable[[], None]:
    """Run every hook from now on; returns the function that stops them."""
    stops = [writer.on_change(hook) for hook in HOOKS]

    def stop() -> None:
        for each in stops:
            each()

    return stop
