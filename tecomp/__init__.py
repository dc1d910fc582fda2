"""tecomp: ANNarchy's Convolution and Pooling projections compiled by TVM for the CPU.

    import tecomp as ann
    from tecomp.extensions.convolution import *

The rest of an ANNarchy script (populations, neurons, setup, compile, simulate) runs as is.
"""

from .constants import Constant
from .errors import (
    EquationError,
    InvalidTypeError,
    InvalidValueError,
    NetworkStateError,
    TecompError,
)
from .monitor import Monitor
from .network import Network, clear, compile, get_time, reset, setup, simulate, step, tune
from .neuron import Neuron, Parameter
from .population import Population
from .version import VERSION

__version__ = VERSION

__all__ = [
    "Constant", "EquationError", "InvalidTypeError", "InvalidValueError", "Monitor", "Network",
    "NetworkStateError", "Neuron", "Parameter", "Population", "TecompError", "clear", "compile",
    "get_time", "reset", "setup", "simulate", "step", "tune",
]
