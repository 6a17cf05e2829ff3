"""Parsed and validated GraphQL documents, cached within a memory budget.

Dashboards send the same few query texts again and again; parsing and validating them is
most of a small query's cost, so both are cached. A parsed document costs memory in
proportion to its tokens (about 100 bytes per character of a realistic query, up to about
280 for one made of punctuation), so a cache bounded only by its count of entries could be
filled by a caller sending distinct large texts: 1,024 documents of 5,000 tokens hold about
2 GB. This cache is bounded by the characters it holds as well: texts over
`MAX_ENTRY_CHARS` are parsed and validated every time, never kept, and the least recently
used entries go once the texts held pass `MAX_TOTAL_CHARS` (at most about 150 MB in the
worst case, a few MB for real dashboards).

A document's validation errors are kept with it, so an evicted document takes its
validation with it: nothing else holds it alive.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass, field

from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema, parse

from app.schema._strawberry_compat import validate_document

MAX_ENTRIES = 1024
MAX_ENTRY_CHARS = 8 * 1024
MAX_TOTAL_CHARS = 512 * 1024


@dataclass(slots=True)
class _Entry:
    document: DocumentNode
    # (schema, rules) -> errors: the rules are the same objects for every request.
    validations: dict[tuple[int, tuple[int, ...]], list[GraphQLError]] = field(default_factory=dict)


class DocumentCache:
    """An LRU of parsed documents (and their validation) bounded in entries and characters."""

    def __init__(
        self,
        *,
        max_entries: int = MAX_ENTRIES,
        max_entry_chars: int = MAX_ENTRY_CHARS,
        max_total_chars: int = MAX_TOTAL_CHARS,
    ) -> None:
        self.max_entries = max_entries
        self.max_entry_chars = max_entry_chars
        self.max_total_chars = max_total_chars
        self._entries: OrderedDict[tuple[str, Hashable], _Entry] = OrderedDict()
        self._chars = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def chars(self) -> int:
        """Characters of query text held."""
        return self._chars

    def cacheable(self, query: str) -> bool:
        return len(query) <= self.max_entry_chars

    def parse(self, query: str, *, max_tokens: int | None = None) -> DocumentNode:
        """The document for a query text; raises GraphQLSyntaxError as `graphql.parse` does
        (a text that does not parse is not kept)."""
        if not self.cacheable(query):
            return parse(query, max_tokens=max_tokens)
        key = (query, max_tokens)
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            return entry.document
        document = parse(query, max_tokens=max_tokens)
        self._entries[key] = _Entry(document)
        self._chars += len(query)
        while len(self._entries) > self.max_entries or self._chars > self.max_total_chars:
            (old, _), _ = self._entries.popitem(last=False)
            self._chars -= len(old)
        return document

    def validate(
        self,
        schema: GraphQLSchema,
        query: str,
        document: DocumentNode,
        rules: tuple[type[ASTValidationRule], ...],
        *,
        max_tokens: int | None = None,
    ) -> list[GraphQLError]:
        """Validation errors (Strawberry's rules added to `rules`, as it validates) of a
        document this cache parsed, cached with it; any other document is validated each time."""
        entry = self._entries.get((query, max_tokens))
        if entry is None or entry.document is not document:
            return validate_document(schema, document, rules)
        key = (id(schema), tuple(id(rule) for rule in rules))
        errors = entry.validations.get(key)
        if errors is None:
            errors = entry.validations[key] = validate_document(schema, document, rules)
        return errors


DOCUMENTS = DocumentCache()
