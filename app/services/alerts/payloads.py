"""Alert webhook bodies: Alertmanager's webhook (version 4) and our generic shape.

Both are turned into normalised alerts, one dict per alert, the same shape for every
source (docs/alerts.md): what the intake writer stores and the processor reads. Validation
is all-or-nothing: the first bad value refuses the whole request, named by its path
(`alerts[3].labels.service: must be a string`).

Alertmanager's payload is Alertmanager's to evolve, so keys we do not use are ignored;
the generic shape is ours, so an unknown key is refused and a typo cannot pass unnoticed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from app.core.text import unstorable
from app.errors import ValidationFailed
from app.services.incidents.validation import TEXT_MAX_BYTES, TITLE_MAX

SOURCE_MAX = 128
FINGERPRINT_MAX = 255
NAME_MAX = 255
SEVERITY_MAX = 64
URL_MAX = 2048
GROUP_KEY_MAX = 4096
LABELS_MAX = 128
LABEL_NAME_MAX = 255
LABEL_VALUE_MAX = 4096
ANNOTATION_VALUE_MAX = TEXT_MAX_BYTES

ALERTMANAGER = "alertmanager"
GENERIC_FIELDS = frozenset(
    {
        "id",
        "source",
        "title",
        "status",
        "description",
        "service",
        "severity",
        "alertname",
        "labels",
        "annotations",
        "url",
        "startsAt",
        "endsAt",
    }
)
_STATUSES = {"firing": "FIRING", "resolved": "RESOLVED"}
# Go's zero time: Alertmanager's endsAt for an alert that has not ended.
_ZERO_TIME_YEAR = 1
# Text PostgreSQL cannot store (NUL) or no database can (lone surrogates) reaches a string
# only through a JSON escape; bodies without one skip the per-string check.
_RISKY_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})")


def decode(body: bytes) -> Any:
    """The body as JSON; NaN and Infinity are refused, they are not JSON."""
    try:
        return json.loads(body, parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise ValidationFailed("the body is not UTF-8 text") from None
    except ValueError as exc:
        raise ValidationFailed(f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise ValidationFailed("the body is nested too deeply") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def parse_alertmanager(
    body: bytes, *, received_at: datetime, max_alerts: int
) -> list[dict[str, Any]]:
    """Alertmanager's webhook payload (version 4) as normalised alerts."""
    return _Parser(body, received_at=received_at, max_alerts=max_alerts).alertmanager()


def parse_generic(body: bytes, *, received_at: datetime, max_alerts: int) -> list[dict[str, Any]]:
    """One generic alert, a list of them, or {"alerts": [...]}, as normalised alerts."""
    return _Parser(body, received_at=received_at, max_alerts=max_alerts).generic()


def _invalid(path: str, problem: str) -> ValidationFailed:
    # A path holds the sender's key names, and a name may be no Unicode text (a lone
    # surrogate, escaped in the JSON): such a name is given escaped, as the sender wrote it,
    # or the answer itself could not be encoded.
    path, problem = _printable(path), _printable(problem)
    return ValidationFailed(f"{path}: {problem}" if path else problem, field=path or None)


def _printable(text: str) -> str:
    try:
        text.encode()
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode()
    return text


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


class _Parser:
    def __init__(self, body: bytes, *, received_at: datetime, max_alerts: int) -> None:
        self.document = decode(body)
        self.check_text = _RISKY_ESCAPE.search(body) is not None
        self.received_at = received_at
        self.received = iso(received_at)
        self.max_alerts = max_alerts

    # Alertmanager

    def alertmanager(self) -> list[dict[str, Any]]:
        document = self._object(self.document, "")
        version = document.get("version")
        if version is None:
            raise _invalid("version", 'required (Alertmanager webhook payload version "4")')
        if version != "4":
            raise _invalid("version", f'only version "4" is supported, not {version!r}')
        if document.get("status") is not None:
            self._status(document["status"], "status")
        group_key = self._text(document.get("groupKey"), "groupKey", GROUP_KEY_MAX)
        for key in ("groupLabels", "commonLabels", "commonAnnotations"):
            if document.get(key) is not None:
                self._labels(document[key], key, ANNOTATION_VALUE_MAX)
        for key in ("receiver", "externalURL"):
            self._text(document.get(key), key, URL_MAX)
        alerts = self._list(document.get("alerts"), "alerts", required=True)
        return [
            self._alertmanager_alert(item, f"alerts[{i}]", group_key)
            for i, item in enumerate(alerts)
        ]

    def _alertmanager_alert(self, item: object, path: str, group_key: str | None) -> dict[str, Any]:
        alert = self._object(item, path)
        status = self._status(alert.get("status"), f"{path}.status", required=True)
        labels = self._labels(alert.get("labels"), f"{path}.labels", LABEL_VALUE_MAX, required=True)
        annotations = self._labels(
            alert.get("annotations"), f"{path}.annotations", ANNOTATION_VALUE_MAX
        )
        alertname = self._label(labels, "alertname", path, NAME_MAX)
        service = self._label(labels, "service", path, NAME_MAX) or self._label(
            labels, "job", path, NAME_MAX
        )
        severity = self._label(labels, "severity", path, SEVERITY_MAX)
        summary = (annotations.get("summary") or "").strip()
        if summary:
            # The summary stays whole in the annotations; the title is its first 255.
            title = summary if len(summary) <= TITLE_MAX else summary[: TITLE_MAX - 1] + "…"
        elif alertname and alertname.strip():
            title = alertname.strip()
        else:
            raise _invalid(
                f"{path}.labels.alertname", "required when annotations.summary is absent"
            )
        fingerprint = self._text(alert.get("fingerprint"), f"{path}.fingerprint", FINGERPRINT_MAX)
        if not fingerprint:
            fingerprint = _digest(sorted(labels.items()))
        starts_at = self._time(alert.get("startsAt"), f"{path}.startsAt", required=True)
        ends_at = self._time(alert.get("endsAt"), f"{path}.endsAt")
        description = annotations.get("description")
        if description is not None and len(description.encode()) > TEXT_MAX_BYTES:
            raise _invalid(f"{path}.annotations.description", f"at most {TEXT_MAX_BYTES} bytes")
        return {
            "source": ALERTMANAGER,
            "fingerprint": fingerprint,
            "status": status,
            "alertname": alertname,
            "service": service,
            "severity": severity,
            "title": title,
            "description": description,
            "labels": labels,
            "annotations": annotations,
            "url": self._text(alert.get("generatorURL"), f"{path}.generatorURL", URL_MAX),
            "startsAt": starts_at,
            "endsAt": ends_at,
            "groupKey": group_key,
            "receivedAt": self.received,
        }

    def _label(self, labels: Mapping[str, str], name: str, path: str, limit: int) -> str | None:
        value = labels.get(name)
        if value is not None and len(value) > limit:
            raise _invalid(f"{path}.labels.{name}", f"at most {limit} characters")
        return value or None

    # Generic

    def generic(self) -> list[dict[str, Any]]:
        document = self.document
        if isinstance(document, list):
            items, prefix = document, ""
        elif isinstance(document, dict) and "alerts" in document:
            extra = sorted(set(document) - {"alerts"})
            if extra:
                raise _invalid(
                    extra[0][:64], "unknown field (a list of alerts goes alone in 'alerts')"
                )
            items, prefix = self._list(document["alerts"], "alerts", required=True), "alerts"
        elif isinstance(document, dict):
            return [self._generic_alert(document, "")]
        else:
            raise _invalid("", f"expected an alert object or a list of them, not {_kind(document)}")
        if len(items) > self.max_alerts:
            raise _invalid(prefix, f"at most {self.max_alerts} alerts per request")
        return [self._generic_alert(item, f"{prefix}[{i}]") for i, item in enumerate(items)]

    def _generic_alert(self, item: object, path: str) -> dict[str, Any]:
        alert = self._object(item, path)
        at = f"{path}." if path else ""
        unknown = sorted(set(alert) - GENERIC_FIELDS)
        if unknown:
            raise _invalid(
                f"{at}{unknown[0][:64]}",
                f"unknown field (allowed: {', '.join(sorted(GENERIC_FIELDS))})",
            )
        source = self._text(alert.get("source"), f"{at}source", SOURCE_MAX, required=True)
        title = self._text(alert.get("title"), f"{at}title", TITLE_MAX, required=True)
        assert source is not None and title is not None
        title = title.strip()
        if not title:
            raise _invalid(f"{at}title", "must not be blank")
        status = (
            "FIRING"
            if alert.get("status") is None
            else self._status(alert["status"], f"{at}status", any_case=True)
        )
        service = self._text(alert.get("service"), f"{at}service", NAME_MAX) or None
        severity = self._text(alert.get("severity"), f"{at}severity", SEVERITY_MAX) or None
        alertname = self._text(alert.get("alertname"), f"{at}alertname", NAME_MAX) or title
        description = self._text(alert.get("description"), f"{at}description", None)
        if description is not None and len(description.encode()) > TEXT_MAX_BYTES:
            raise _invalid(f"{at}description", f"at most {TEXT_MAX_BYTES} bytes")
        labels = self._labels(alert.get("labels"), f"{at}labels", LABEL_VALUE_MAX)
        annotations = self._labels(
            alert.get("annotations"), f"{at}annotations", ANNOTATION_VALUE_MAX
        )
        fingerprint = self._text(alert.get("id"), f"{at}id", FINGERPRINT_MAX)
        if fingerprint == "":
            raise _invalid(f"{at}id", "must not be empty (leave it out to derive one)")
        if fingerprint is None:
            fingerprint = _digest([source, title, service, alertname, sorted(labels.items())])
        starts_at = self._time(alert.get("startsAt"), f"{at}startsAt")
        ends_at = self._time(alert.get("endsAt"), f"{at}endsAt")
        if status == "RESOLVED" and ends_at is None:
            ends_at = self.received
        return {
            "source": source,
            "fingerprint": fingerprint,
            "status": status,
            "alertname": alertname,
            "service": service,
            "severity": severity,
            "title": title,
            "description": description,
            "labels": labels,
            "annotations": annotations,
            "url": self._text(alert.get("url"), f"{at}url", URL_MAX) or None,
            # Null when the sender gave none: the processor then stores the time received,
            # and takes a resolution as one of the alert's latest lifetime.
            "startsAt": starts_at,
            "endsAt": ends_at,
            "groupKey": None,
            "receivedAt": self.received,
        }

    # Shapes

    def _object(self, value: object, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _invalid(path, f"must be an object, not {_kind(value)}")
        return value

    def _list(self, value: object, path: str, *, required: bool = False) -> list[Any]:
        if value is None and not required:
            return []
        if not isinstance(value, list):
            if value is None:
                raise _invalid(path, "required (a list of alerts)")
            raise _invalid(path, f"must be a list, not {_kind(value)}")
        if len(value) > self.max_alerts:
            raise _invalid(path, f"at most {self.max_alerts} alerts per request")
        return value

    def _text(
        self, value: object, path: str, limit: int | None, *, required: bool = False
    ) -> str | None:
        if value is None:
            if required:
                raise _invalid(path, "required")
            return None
        if not isinstance(value, str):
            raise _invalid(path, f"must be a string, not {_kind(value)}")
        if required and not value:
            raise _invalid(path, "must not be empty")
        if limit is not None and len(value) > limit:
            raise _invalid(path, f"at most {limit} characters")
        if self.check_text:
            self._storable(value, path)
        return value

    def _storable(self, value: str, path: str) -> None:
        reason = unstorable(value)
        if reason is not None:
            raise _invalid(path, reason)

    def _labels(
        self, value: object, path: str, value_limit: int, *, required: bool = False
    ) -> dict[str, str]:
        if value is None:
            if required:
                raise _invalid(path, "required (an object of strings)")
            return {}
        labels = self._object(value, path)
        if len(labels) > LABELS_MAX:
            raise _invalid(path, f"at most {LABELS_MAX} entries")
        for name, text in labels.items():
            if not name or len(name) > LABEL_NAME_MAX:
                raise _invalid(path, f"names must be 1 to {LABEL_NAME_MAX} characters")
            if not isinstance(text, str):
                raise _invalid(f"{path}.{name}", f"must be a string, not {_kind(text)}")
            if len(text) > value_limit:
                raise _invalid(f"{path}.{name}", f"at most {value_limit} characters")
            if self.check_text:
                self._storable(name, path)
                self._storable(text, f"{path}.{name}")
        return labels

    def _status(
        self, value: object, path: str, *, required: bool = False, any_case: bool = False
    ) -> str:
        if value is None and required:
            raise _invalid(path, 'required ("firing" or "resolved")')
        if not isinstance(value, str):
            raise _invalid(path, f'must be "firing" or "resolved", not {_kind(value)}')
        status = _STATUSES.get(value.lower() if any_case else value)
        if status is None:
            raise _invalid(path, f'must be "firing" or "resolved", not {value[:64]!r}')
        return status

    def _time(self, value: object, path: str, *, required: bool = False) -> str | None:
        if value is None:
            if required:
                raise _invalid(path, "required (an RFC 3339 time)")
            return None
        if not isinstance(value, str) or len(value) > 64:
            raise _invalid(path, "must be an RFC 3339 time such as 2026-01-31T12:00:00Z")
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise _invalid(path, "must be an RFC 3339 time such as 2026-01-31T12:00:00Z") from None
        if moment.tzinfo is None:
            raise _invalid(path, "needs a UTC offset (Z or +hh:mm)")
        if moment.year == _ZERO_TIME_YEAR:
            return None
        try:
            return iso(moment)
        except OverflowError:
            raise _invalid(path, "is out of range") from None


def _digest(parts: object) -> str:
    text = json.dumps(parts, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
