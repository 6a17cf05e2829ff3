"""SCIM 2.0 provisioning (RFC 7643 resources, RFC 7644 operations) of users and teams.

What Okta and Entra ID send is mapped onto the people services, which validate and audit
as they do for GraphQL. A payload is checked whole before anything is written: an
unknown attribute, a missing core schema, a bad value or an unsupported PATCH path is a
`ScimError` (400, with SCIM's `scimType`), and nothing changes.

Users: `userName` is kept as given (often an e-mail) and answers `userName eq` filters;
the handle is derived from it once. `DELETE` deactivates (tokens revoked); `active: false`
does the same and `active: true` restores the user. Groups are teams: `displayName` is the
name, `members` the members.
"""

from app.services.people.scim.groups import (
    GroupFields,
    create_group,
    delete_group,
    find_group,
    group_fields,
    group_resource,
    list_groups,
    members_of,
    patch_group,
    replace_group,
)
from app.services.people.scim.protocol import COUNT_MAX, LIST_SCHEMA, ScimError, page_of
from app.services.people.scim.users import (
    UserFields,
    create_user,
    find_user,
    handle_for,
    list_users,
    teams_of,
    update_user,
    user_fields,
    user_patch,
    user_resource,
)
from app.services.people.teams import TeamView
from app.services.people.users import UserView

__all__ = [
    "COUNT_MAX",
    "LIST_SCHEMA",
    "GroupFields",
    "ScimError",
    "TeamView",
    "UserFields",
    "UserView",
    "create_group",
    "create_user",
    "delete_group",
    "find_group",
    "find_user",
    "group_fields",
    "group_resource",
    "handle_for",
    "list_groups",
    "list_users",
    "members_of",
    "page_of",
    "patch_group",
    "replace_group",
    "teams_of",
    "update_user",
    "user_fields",
    "user_patch",
    "user_resource",
]
