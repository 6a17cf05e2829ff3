"""Trusted-document manifests: both formats read, every document under its own hash."""

from __future__ import annotations

import json

import pytest

from app.core.documents import BadManifest, digest, read_manifest

QUERY = "query Board { incidents { totalCount } }"


def test_a_hash_to_document_map_is_read(tmp_path):
    path = tmp_path / "documents.json"
    path.write_text(json.dumps({digest(QUERY): QUERY}))
    assert read_manifest(path) == {digest(QUERY): QUERY}


def test_apollos_manifest_is_read(tmp_path):
    path = tmp_path / "manifest.json"
    manifest = {
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": [{"id": digest(QUERY), "body": QUERY, "name": "Board", "type": "query"}],
    }
    path.write_text(json.dumps(manifest))
    assert read_manifest(path) == {digest(QUERY): QUERY}


@pytest.mark.parametrize(
    "content, said",
    [
        ("not json", "is not JSON"),
        ("[]", "expected an object"),
        ("{}", "lists no document"),
        (json.dumps({"0" * 64: QUERY}), "has another hash"),
        (json.dumps({digest(QUERY): 1}), "must be strings"),
        (json.dumps({"format": "apollo-persisted-query-manifest", "operations": {}}), "list"),
    ],
)
def test_a_bad_manifest_says_what_is_wrong(tmp_path, content, said):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(BadManifest, match=said):
        read_manifest(path)


def test_a_missing_manifest_is_a_configuration_error(tmp_path):
    from app.config import ConfigError, Settings

    with pytest.raises(ConfigError, match="INCIDENTGRAPH_TRUSTED_DOCUMENTS: cannot read"):
        Settings.from_env({"INCIDENTGRAPH_TRUSTED_DOCUMENTS": str(tmp_path / "nope.json")})
