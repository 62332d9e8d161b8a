"""Errors hwgen raises for bad input; the CLI prints them on one line, exit 2."""


class HwgenError(Exception):
    """Bad input from the user: a file, an option, a model. Exit code 2."""


class NetworkError(HwgenError, ValueError):
    """A network folder or object that breaks SPEC.md.

    The message names the layer and the field, e.g.
    ``layer 'fc1' (#2): neuron.threshold must be > 0, got 0``.
    """


class ConversionError(HwgenError, ValueError):
    """A torch model hwgen cannot convert; the message names the module."""


class DataError(HwgenError, FileNotFoundError):
    """Missing or malformed data files, with how to get them."""
