"""The lifecycle rule on the public surface: ``aclose`` is awaited, ``close`` is not, never both.

STYLE.md (httpx's rule): a coroutine ``aclose()`` on what closes asynchronously, a
plain ``close()`` only where closing is synchronous, and never one aliased to the
other, or ``stream.close()`` without ``await`` silently returns an un-awaited coroutine.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import nexus_nb


def public_modules() -> list[ModuleType]:
    """``nexus_nb`` and each of its subpackages, the places a public ``__all__`` lives."""
    packages = [
        importlib.import_module(f"nexus_nb.{info.name}")
        for info in pkgutil.iter_modules(nexus_nb.__path__)
        if info.ispkg
    ]
    return [nexus_nb, *packages]


def public_classes() -> dict[str, type]:
    """Every class named in a public ``__all__``, by its first public name."""
    classes: dict[str, type] = {}
    for module in public_modules():
        for name in module.__all__:
            value = getattr(module, name)
            if inspect.isclass(value) and value not in classes.values():
                classes[f"{module.__name__}.{name}"] = value
    return classes


def lifecycle_breaches(cls: type) -> list[str]:
    """What ``cls`` does against the rule, as sentences (empty when it keeps it)."""
    aclose = inspect.getattr_static(cls, "aclose", None)
    close = inspect.getattr_static(cls, "close", None)
    breaches = []
    if aclose is not None and not inspect.iscoroutinefunction(cls.aclose):
        breaches.append("aclose is not a coroutine function")
    if close is not None and inspect.iscoroutinefunction(cls.close):
        breaches.append("close is a coroutine function")
    if aclose is not None and close is not None and aclose is close:
        breaches.append("close is an alias of aclose")
    return breaches


def test_public_classes_close_with_a_coroutine_aclose_or_a_plain_close_never_an_alias() -> None:
    classes = public_classes()
    assert any(hasattr(cls, "aclose") for cls in classes.values()), "found no aclose at all"

    breaches = {
        name: found for name, cls in sorted(classes.items()) if (found := lifecycle_breaches(cls))
    }

    assert breaches == {}
