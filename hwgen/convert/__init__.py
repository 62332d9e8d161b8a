"""ANN -> integer SNN conversion.

``hwgen.convert`` is both this package and the function
:func:`hwgen.convert.api.convert`: importing a submodule makes Python bind the
package to the attribute ``hwgen.convert``, which would otherwise shadow the
function that ``hwgen/__init__.py`` exposes lazily. The package is therefore
callable and forwards to :func:`~hwgen.convert.api.convert`. Names are
imported lazily so that :mod:`hwgen.convert.fir` stays importable on its own.
"""
from __future__ import annotations

import importlib
import sys
import types

_NAMES = {"Conversion": "api", "convert": "api", "convert_detailed": "api", "pixels": "api",
          "BiasCalibration": "config", "ConvertConfig": "config", "Norm": "config", "VInit": "config"}
__all__ = sorted(_NAMES)


def __getattr__(name):
    if name in _NAMES:
        return getattr(importlib.import_module(f".{_NAMES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _CallablePackage(types.ModuleType):
    def __call__(self, *args, **kwargs):
        from .api import convert

        return convert(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
