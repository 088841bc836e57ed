"""Check functions for the notebook exercises.

Each notebook's exercises live in their own module (``nb01`` … ``nb07``); every
public ``check_*`` function is re-exported here, so a notebook calls
``exercises.check_something(answer)``. A check prints a short verdict and
returns ``True``/``False``; a wrong answer gets a hint, never the solution.
"""

from __future__ import annotations

import importlib
import pkgutil

__all__: list[str] = []

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    _module = importlib.import_module(f"{__name__}.{_info.name}")
    for _name in dir(_module):
        if _name.startswith("check_"):
            globals()[_name] = getattr(_module, _name)
            __all__.append(_name)
