"""Print the schema as SDL: `python -m app.schema.export > schema.graphql`."""

from __future__ import annotations

from app.resolvers.root import schema


def sdl() -> str:
    return schema.as_str() + "\n"


if __name__ == "__main__":
    print(sdl(), end="")
