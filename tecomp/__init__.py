"""tecomp: ANNarchy's Convolution and Pooling projections compiled by TVM for the CPU.

    import tecomp as ann
    from tecomp.extensions.convolution import *

The rest of an ANNarchy script (populations, neurons, setup, compile, simulate) runs as is.
`from tecomp import *` gives the names of ANNarchy 5's `from ANNarchy import *` that tecomp
has (see `__all__`), plus its errors and `tune`.
"""

from .batch import run_batch
from .constants import Constant
from .distributions import (
    DiscreteUniform,
    Exponential,
    Gamma,
    LogNormal,
    Normal,
    RandomDistribution,
    Uniform,
)
from .errors import (
    EquationError,
    InvalidTypeError,
    InvalidValueError,
    NetworkStateError,
    TecompError,
    TecompWarning,
    UnknownAttributeError,
)
from .monitor import Monitor
from .network import (
    Network,
    clear,
    compile,
    get_current_step,
    get_population,
    get_projection,
    get_time,
    load,
    magic_network,
    monitors,
    populations,
    projections,
    reset,
    save,
    set_seed,
    setup,
    simulate,
    simulate_until,
    step,
    tune,
)
from .neuron import Neuron, Parameter
from .population import Population
from .projection import Dendrite, Projection
from .synapse import Synapse
from .version import VERSION
from .views import IndividualNeuron, PopulationView

__version__ = VERSION

__all__ = [  # ANNarchy 5.0.4.1's star-exported names that tecomp has, and tecomp's own
    "Constant", "Dendrite", "DiscreteUniform", "EquationError", "Exponential", "Gamma",
    "IndividualNeuron", "InvalidTypeError", "InvalidValueError", "LogNormal", "Monitor",
    "Network", "NetworkStateError", "Neuron", "Normal", "Parameter", "Population",
    "PopulationView", "Projection", "RandomDistribution", "Synapse", "TecompError",
    "TecompWarning", "Uniform", "UnknownAttributeError", "clear", "compile",
    "get_current_step", "get_population", "get_projection", "get_time", "load",
    "magic_network", "monitors", "populations", "projections", "reset", "run_batch", "save",
    "set_seed", "setup", "simulate", "simulate_until", "step", "tune",
]
