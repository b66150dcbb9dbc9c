"""Reading JSON that comes from outside (an API body, a data set to import).

Python's `json` accepts NaN and Infinity, which JSON does not, and a number no database column
holds arrives as an int of any size; a document nested thousands deep costs recursion wherever
it goes next. Both readers of outside JSON, `directory.http.read_json` and the HSDS package
reader, refuse these through here, each naming the problem in its own way.
"""

import json
from typing import Any


def loads(data: str | bytes) -> Any:
    """The document, or ValueError (json.JSONDecodeError for bad syntax; plain ValueError for
    NaN, Infinity or an integer too long to convert; RecursionError when nested too deep)."""
    return json.loads(data, parse_constant=_refuse_constant)


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def deeper_than(value: Any, limit: int) -> bool:
    """Whether `value` nests more than `limit` levels (a list or object is one level more than
    where it stands), looked at without recursion. Only lists and objects are visited: a data
    set's item has far more scalars than containers, and no scalar adds a level."""
    stack = [(value, 0)] if isinstance(value, dict | list) else []
    while stack:
        item, level = stack.pop()
        if level + 1 > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return False
