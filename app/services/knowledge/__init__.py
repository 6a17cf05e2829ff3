"""The knowledge base: articles written, reviewed by someone else, published in versions."""
