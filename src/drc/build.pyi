from typing import Any

ZEAL: bool
POISON: int
HEADER_LAYOUT: dict[str, int]

def info() -> dict[str, Any]: ...
