"""hwgen: trained PyTorch network -> verified spiking-neural-network accelerator."""
from .errors import ConversionError, DataError, HwgenError, NetworkError
from .netfile import load
from .network import FORMAT, InputSpec, Layer, Network, Neuron, Op

__version__ = "0.1.0"

__all__ = ["FORMAT", "ConversionError", "DataError", "HwgenError", "InputSpec", "Layer", "Network",
           "NetworkError", "Neuron", "Op", "load", "convert"]


def __getattr__(name):
    # torch is imported only when conversion is asked for.
    if name == "convert":
        from .convert.api import convert

        return convert
    raise AttributeError(name)
