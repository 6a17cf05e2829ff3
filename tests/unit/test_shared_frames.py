"""Subscription frames built around a result's JSON encoded once."""

from __future__ import annotations

import json

from app.schema import push
from app.schema.push import shared_frame


def test_a_frame_is_the_message_the_protocol_defines():
    data = {"incidentUpdated": {"id": "INC-1", "title": 'quote " and \u00e9', "tags": ["a"]}}
    frame = shared_frame('op "1"', "next", {"data": data})
    assert frame is not None
    assert json.loads(frame) == {"id": 'op "1"', "type": "next", "payload": {"data": data}}


def test_subscribers_of_one_result_share_its_encoding():
    data = {"timelineEventAdded": {"seq": 7}}
    first = shared_frame("1", "next", {"data": data})
    second = shared_frame("2", "data", {"data": data})
    assert first is not None and second is not None
    # the data's JSON is the same object in both frames' making: encoded once
    assert push.encoded(data) is push.encoded(data)
    assert json.loads(second) == {"id": "2", "type": "data", "payload": {"data": data}}


def test_errors_extensions_and_null_data_take_the_ordinary_path():
    assert shared_frame("1", "next", {"data": None}) is None
    assert shared_frame("1", "next", {"data": {"a": 1}, "errors": [{"message": "x"}]}) is None
    assert shared_frame("1", "next", {"data": {"a": 1}, "extensions": {"cost": 1}}) is None
    assert shared_frame("1", "next", None) is None


def test_the_size_limit_measures_the_bytes_sent():
    data = {"note": "é" * 10}
    assert push.push_size(data) == len(json.dumps(data, separators=(",", ":")).encode())
