"""Regular projections, as ANNarchy's `Projection`: a synapse type and a connection pattern.

    proj = ann.Projection(pre, post, "exc").connect_all_to_all(weights=ann.Uniform(0, 1))
    proj = net.connect(pre, post, "exc").fixed_probability(0.1, weights=0.5)

Each projection is one TVM kernel (`tecomp.specs.MatrixSpec`): dense rows for all-to-all
between whole populations, one synapse per neuron for one-to-one, padded rows (ELLPACK)
for every other pattern and for views. Connectors have ANNarchy's names, with and without
`connect_`, and its parameters (see `tecomp.connectivity` for the patterns).

Differences from ANNarchy, stated: `proj.pre` and `proj.post` are the populations, also
when the projection was built on views (the views' neurons are the ranks the pattern uses);
each dendrite's pre ranks are in ascending order; weights and delays given as arrays must
hold one value per synapse of the pattern (all-to-all: a (post, pre) matrix; one-to-one: one
per post neuron); a uniform delay must be a multiple of dt (as for Convolution), while
per-synapse delays (a distribution or an array) are rounded to steps as ANNarchy does.
"""

import dataclasses
import math
import os
import zipfile
import zlib

import numpy as np

from . import cache, constants
from . import connectivity as patterns
from .connectivity import Connectivity
from .distributions import RandomDistribution
from .errors import (
    EquationError,
    InvalidTypeError,
    InvalidValueError,
    NetworkStateError,
    UnknownAttributeError,
)
from .expr import Kind, constant_problem, names
from .network import check_projection
from .plan import MAX_DELAY_STEPS
from .population import Population
from .saving import npz_path
from .specs import MatrixSpec
from .synapse import LOCAL, POSTSYNAPTIC, PROJECTION, Synapse
from .values import ITEM_BYTES, array, check_elements, fits, number, show, size_of
from .views import PopulationView

# connectivity_matrix() and receptive_fields() refuse a dense result larger than this.
MAX_MATRIX_BYTES = 1 << 30
# ANNarchy's storage formats: "dense" keeps whole rows (with a mask of the synapses that
# exist: no gathered pre values, one byte per pair); every other one, padded rows (ELLPACK),
# the layout tecomp measured fastest for sparse patterns; None chooses (dense rows for an
# all-to-all between whole populations).
STORAGE_FORMATS = ("lil", "csr", "csr_scalar", "csr_vector", "ell", "ellr", "sell", "coo",
                   "bsr", "hyb", "dense")
# The largest post x pre a projection of padded rows may also hold as whole rows with a mask
# (a tuning choice between both; one byte per pair for the mask).
MAX_MASKED_PAIRS = 1 << 26
# Padded rows hold a multiple of this many synapses (vector widths divide it), so patterns
# drawn with another seed mostly keep the same kernel (and its tuned record).
ROW_MULTIPLE = 8


class Projection:
    """A projection between two populations (or views) with a synapse type and a pattern.

    >>> import numpy as np, tecomp as ann
    >>> net = ann.Network()
    >>> pre = net.create(4, ann.Neuron(parameters="r = 1.0"))
    >>> post = net.create(2, ann.Neuron(equations="r = sum(exc)"))
    >>> proj = ann.Projection(pre, post, "exc").connect_all_to_all(weights=0.5)
    >>> proj.size, proj.nb_synapses, proj.dendrite(1).pre_ranks
    (2, 8, [0, 1, 2, 3])
    >>> net.compile(silent=True); net.simulate(1); post.r.tolist()
    [2.0, 2.0]
    """

    def __init__(self, pre, post, target: str, synapse: Synapse | None = None,
                 name: str | None = None, disable_omp: bool = True, copied: bool = False):
        who = "Projection"
        ends = []
        for role, end in (("pre", pre), ("post", post)):
            if not isinstance(end, Population | PopulationView):
                raise InvalidTypeError(f"{who}: {role} must be a Population or a PopulationView, "
                                       f"got {type(end).__name__}")
            population = end.population if isinstance(end, PopulationView) else end
            ends.append((population, np.asarray(end.ranks, dtype=np.int64)))
        (pre_pop, pre_ranks), (post_pop, post_ranks) = ends
        check_projection(who, pre_pop, post_pop, target, name)
        synapse = Synapse() if synapse is None else synapse
        if not isinstance(synapse, Synapse):
            raise InvalidTypeError(f"{who}: synapse must be a tecomp Synapse, "
                                   f"got {type(synapse).__name__}")
        tree = synapse.psp_tree
        for role, pop in (("pre", pre_pop), ("post", post_pop)):
            kind = Kind.PRE if role == "pre" else Kind.POST
            for var in sorted(names(tree, kind)):
                if var not in pop.attributes:
                    raise EquationError(f"{who}: the psp reads {role}.{var}, but {role} "
                                        f"{pop.name} has only {', '.join(pop.attributes)}",
                                        synapse.psp)
                if var in pop.neuron.shared:
                    raise EquationError(f"{who}: the psp reads {role}.{var}, a population-wide "
                                        f"parameter of {pop.name}; declare it per neuron "
                                        f"('{var} = 0.0' in a parameters string)", synapse.psp)
        self.pre, self.post, self.target = pre_pop, post_pop, target
        self._pre_ranks, self._post_ranks = pre_ranks, post_ranks
        self.synapse_type = synapse
        self.psp, self.operation = synapse.psp, synapse.operation
        self.name = name or pre_pop.network.free_projection_name()
        self.connector_name = None
        self._pattern: Connectivity | None = None
        self._layout = None
        self._single_weight = False
        self._format = None  # storage_format of the connector call under way
        self._forced = False  # the layout was asked for (storage_format), not chosen
        self._built = None  # the layout of the compiled kernel's arrays
        self._values: dict[str, np.ndarray] = {}  # parameters, before compile()
        pre_pop.network.add_projection(self)

    # -- connectors --------------------------------------------------------------------------
    def connect_all_to_all(self, weights, delays=0.0, allow_self_connections: bool = False,
                           force_multiple_weights: bool = False, storage_format=None,
                           storage_order=None) -> "Projection":
        """Every pre neuron to every post neuron (a neuron not to itself, unless
        allow_self_connections, when pre and post are the same population). `weights` may
        also be a (post, pre) matrix."""
        who = self._begin("connect_all_to_all", allow_self_connections, force_multiple_weights,
                          storage_format)
        exclude = self._excludes_self(allow_self_connections)
        rows = patterns.all_to_all(self._pre_ranks, self._post_ranks, exclude)
        if isinstance(weights, np.ndarray | list | tuple):
            matrix = array(weights, who, "weights", "a number, a random distribution or a "
                           "(post, pre) matrix")
            want = (len(self._post_ranks), len(self._pre_ranks))
            if matrix.shape != want:
                raise InvalidValueError(f"{who}: a weight matrix must have the shape (post, pre)"
                                        f" = {want}, got {matrix.shape}")
            keep = [self._pre_ranks != i if exclude else np.ones(want[1], bool)
                    for i in self._post_ranks]
            weights = np.concatenate([matrix[k][keep[k]] for k in range(want[0])])
        full = len(self._pre_ranks) == self.pre.size and len(self._post_ranks) == self.post.size \
            and (self._pre_ranks == np.arange(self.pre.size)).all() \
            and (self._post_ranks == np.arange(self.post.size)).all()
        return self._store(who, rows, weights, delays, "dense" if full else "ell",
                           "All-to-All", force_multiple_weights)

    def connect_one_to_one(self, weights=1.0, delays=0.0, force_multiple_weights: bool = False,
                           storage_format=None, storage_order=None) -> "Projection":
        """The k-th pre neuron to the k-th post neuron (both of the same size)."""
        who = self._begin("connect_one_to_one", False, force_multiple_weights, storage_format)
        if len(self._pre_ranks) != len(self._post_ranks):
            raise InvalidValueError(f"{who}: pre and post must have the same size, got "
                                    f"{len(self._pre_ranks)} and {len(self._post_ranks)}")
        rows = patterns.one_to_one(self._pre_ranks, self._post_ranks)
        same = (self._pre_ranks == self._post_ranks).all() and \
            len(self._post_ranks) == self.post.size == self.pre.size and \
            (self._post_ranks == np.arange(self.post.size)).all()
        return self._store(who, rows, weights, delays, "one_to_one" if same else "ell",
                           "One-to-One", force_multiple_weights)

    def connect_fixed_probability(self, probability: float, weights, delays=0.0,
                                  allow_self_connections: bool = False,
                                  force_multiple_weights: bool = False, storage_format=None,
                                  storage_order=None) -> "Projection":
        """Each (pre, post) pair is a synapse with the given probability."""
        who = self._begin("connect_fixed_probability", allow_self_connections,
                          force_multiple_weights, storage_format)
        p = patterns.check_probability(probability, who)
        self._no_arrays(who, weights, delays)
        rows = patterns.fixed_probability(self._pre_ranks, self._post_ranks, p,
                                          self._excludes_self(allow_self_connections),
                                          self._rng)
        return self._store(who, rows, weights, delays, "ell", "Random",
                           force_multiple_weights)

    def connect_fixed_number_pre(self, number: int, weights, delays=0.0,
                                 allow_self_connections: bool = False,
                                 force_multiple_weights: bool = False, storage_format=None,
                                 storage_order=None) -> "Projection":
        """Each post neuron receives `number` distinct pre neurons, drawn at random."""
        who = self._begin("connect_fixed_number_pre", allow_self_connections,
                          force_multiple_weights, storage_format)
        exclude = self._excludes_self(allow_self_connections)
        most = len(self._pre_ranks) - (1 if exclude and np.isin(
            self._post_ranks, self._pre_ranks).any() else 0)
        n = patterns.check_count(number, who, "number", most, f"pre has {len(self._pre_ranks)} "
                                 "neurons" + (", a neuron is not its own pre" if exclude else ""))
        self._no_arrays(who, weights, delays)
        rows = patterns.fixed_number_pre(self._pre_ranks, self._post_ranks, n, exclude,
                                         self._rng)
        return self._store(who, rows, weights, delays, "ell", "Random Convergent",
                           force_multiple_weights)

    def connect_fixed_number_post(self, number: int, weights=1.0, delays=0.0,
                                  allow_self_connections: bool = False,
                                  force_multiple_weights: bool = False, storage_format=None,
                                  storage_order=None) -> "Projection":
        """Each pre neuron sends synapses to `number` distinct post neurons, drawn at random."""
        who = self._begin("connect_fixed_number_post", allow_self_connections,
                          force_multiple_weights, storage_format)
        exclude = self._excludes_self(allow_self_connections)
        most = len(self._post_ranks) - (1 if exclude and np.isin(
            self._pre_ranks, self._post_ranks).any() else 0)
        n = patterns.check_count(number, who, "number", most, f"post has "
                                 f"{len(self._post_ranks)} neurons" +
                                 (", a neuron is not its own post" if exclude else ""))
        self._no_arrays(who, weights, delays)
        rows = patterns.fixed_number_post(self._pre_ranks, self._post_ranks, n, exclude,
                                          self._rng)
        return self._store(who, rows, weights, delays, "ell", "Random Divergent",
                           force_multiple_weights)

    def connect_gaussian(self, amp: float, sigma: float, delays=0.0, limit: float = 0.01,
                         allow_self_connections: bool = False,
                         storage_format=None) -> "Projection":
        """Weights amp * exp(-d² / (2 sigma²)) of the distance d between normalized
        coordinates; synapses where the weight exceeds limit * amp."""
        who = self._begin("connect_gaussian", allow_self_connections, False, storage_format)
        amp = number(amp, who, "amp", "a number")
        sigma = patterns.finite_positive(sigma, who, "sigma")
        limit = number(limit, who, "limit", "a number")
        return self._profile(who, patterns.gaussian_value(amp, sigma),
                             lambda w: w > limit * amp, delays, allow_self_connections,
                             "Gaussian")

    def connect_dog(self, amp_pos: float, sigma_pos: float, amp_neg: float, sigma_neg: float,
                    delays=0.0, limit: float = 0.01, allow_self_connections: bool = False,
                    storage_format=None) -> "Projection":
        """A difference of Gaussians; synapses where |weight| > limit * |amp_pos - amp_neg|."""
        who = self._begin("connect_dog", allow_self_connections, False, storage_format)
        amp_pos = number(amp_pos, who, "amp_pos", "a number")
        amp_neg = number(amp_neg, who, "amp_neg", "a number")
        sigma_pos = patterns.finite_positive(sigma_pos, who, "sigma_pos")
        sigma_neg = patterns.finite_positive(sigma_neg, who, "sigma_neg")
        limit = number(limit, who, "limit", "a number")
        bound = limit * abs(amp_pos - amp_neg)
        return self._profile(who, patterns.dog_value(amp_pos, sigma_pos, amp_neg, sigma_neg),
                             lambda w: np.abs(w) > bound, delays, allow_self_connections,
                             "Difference-of-Gaussian")

    def connect_from_matrix(self, weights, delays=0.0, pre_post: bool = False,
                            storage_format=None, storage_order=None) -> "Projection":
        """A dense (post, pre) matrix of weights ((pre, post) with pre_post=True); NaN or
        None: no synapse. `delays`: a number, or a matrix of the same shape."""
        who = self._begin("connect_from_matrix", False, False, storage_format)
        if not isinstance(pre_post, bool | np.bool_):
            raise InvalidTypeError(f"{who}: pre_post must be True or False, got "
                                   f"{show(pre_post)}")
        rows, values, present = patterns.from_matrix(weights, self._pre_ranks,
                                                     self._post_ranks, bool(pre_post), who)
        if isinstance(delays, np.ndarray | list | tuple):
            given = array(delays, who, "delays", finite=False)
            given = given.T if pre_post and given.ndim == 2 else given
            if given.shape != present.shape:
                raise InvalidValueError(f"{who}: delays must be a number or a matrix of the "
                                        f"weights' shape, got shape {given.shape}")
            delays = given[present]
        return self._store(who, rows, values, delays, "ell", "Connectivity matrix", True)

    def connect_from_sparse(self, weights, delays=0.0, storage_format=None,
                            storage_order=None) -> "Projection":
        """A scipy.sparse (post, pre) matrix: every stored entry is a synapse."""
        who = self._begin("connect_from_sparse", False, False, storage_format)
        if not hasattr(weights, "tocsr") or not hasattr(weights, "nnz"):
            raise InvalidTypeError(f"{who}: weights must be a scipy.sparse matrix, got "
                                   f"{type(weights).__name__}")
        matrix = weights.tocsr()
        if not all(hasattr(matrix, a) for a in ("indptr", "indices", "data", "shape",
                                                 "sum_duplicates", "copy")):
            raise InvalidTypeError(f"{who}: weights must be a scipy.sparse matrix; its tocsr() "
                                   f"gave {type(matrix).__name__}")
        matrix = matrix.copy()
        matrix.sum_duplicates()
        want = (len(self._post_ranks), len(self._pre_ranks))
        if matrix.shape != want:
            raise InvalidValueError(f"{who}: the matrix must have the shape (post, pre) = "
                                    f"{want}, got {matrix.shape}")
        values = array(matrix.data, who, "weights")
        rows = [self._pre_ranks[matrix.indices[matrix.indptr[k]:matrix.indptr[k + 1]]]
                for k in range(want[0])]
        return self._store(who, rows, values, delays, "ell", "Sparse connectivity matrix", True)

    def connect_from_file(self, filename) -> "Projection":
        """The pattern, weights and delays written by `save_connectivity` (.npz)."""
        who = self._begin("connect_from_file", False, False)
        path = npz_path(filename, who)
        try:
            with np.load(path, allow_pickle=False) as data:
                stored = {k: data[k] for k in ("pre_size", "post_size", "post_ranks", "indptr",
                                                "pre_ranks", "w", "delays")}
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile,
                zlib.error) as err:
            raise InvalidValueError(f"{who}: {path} is not a connectivity file written by "
                                    f"save_connectivity ({type(err).__name__}: {err})") from None
        bad = next((k for k, v in stored.items() if (v.ndim != (0 if k.endswith("size") else 1))
                    or v.dtype.kind not in ("iu" if k not in ("w", "delays") else "fiu")), None)
        if bad is not None:
            raise InvalidValueError(f"{who}: {path} is not a connectivity file written by "
                                    f"save_connectivity ({bad} has shape {stored[bad].shape} "
                                    f"and type {stored[bad].dtype})")
        sizes = (int(stored["pre_size"]), int(stored["post_size"]))
        if sizes != (self.pre.size, self.post.size):
            raise InvalidValueError(f"{who}: {path} connects {sizes[0]} pre to {sizes[1]} post "
                                    f"neurons; this projection {self.pre.size} to "
                                    f"{self.post.size}")
        post, indptr, pre = (stored[k].astype(np.int64) for k in ("post_ranks", "indptr",
                                                                    "pre_ranks"))
        if len(indptr) != len(post) + 1 or indptr[0] != 0 or (np.diff(indptr) < 0).any() or \
                indptr[-1] != len(pre) or len(stored["w"]) != len(pre) or \
                len(stored["delays"]) != len(pre) or len(np.unique(post)) != len(post):
            raise InvalidValueError(f"{who}: {path} holds an inconsistent pattern (its arrays "
                                    "do not fit together)")
        rows = [pre[indptr[k]:indptr[k + 1]] for k in range(len(post))]
        if any(len(np.unique(row)) != len(row) for row in rows):
            raise InvalidValueError(f"{who}: {path} holds a synapse twice (a pre rank repeated "
                                    "in one dendrite)")
        for role, ranks, allowed in (("pre", pre, self._pre_ranks),
                                     ("post", post, self._post_ranks)):
            outside = ranks[~np.isin(ranks, allowed)]
            if len(outside):
                raise InvalidValueError(f"{who}: {path} has synapses of {role} neurons outside "
                                        f"this projection's {role} (rank {int(outside[0])})")
        rows = [pre[indptr[k]:indptr[k + 1]] for k in range(len(post))]
        return self._store(who, rows, stored["w"], stored["delays"], "ell", "From File", True,
                           post_ranks=post)

    def save_connectivity(self, filename) -> None:
        """Write the pattern, weights and delays to a .npz file (see connect_from_file)."""
        pattern = self._connected("save_connectivity")
        path = npz_path(filename, "save_connectivity")
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        np.savez(path, pre_size=self.pre.size, post_size=self.post.size,
                            post_ranks=pattern.post_ranks, indptr=pattern.indptr,
                            pre_ranks=pattern.pre_ranks, w=self._flat("w"),
                            delays=pattern.delays)

    all_to_all = connect_all_to_all
    one_to_one = connect_one_to_one
    fixed_probability = connect_fixed_probability
    fixed_number_pre = connect_fixed_number_pre
    fixed_number_post = connect_fixed_number_post
    gaussian = connect_gaussian
    dog = connect_dog
    from_matrix = connect_from_matrix
    from_sparse = connect_from_sparse
    from_file = connect_from_file

    # -- building a pattern ------------------------------------------------------------------
    def _begin(self, method: str, allow_self, force_multiple, storage_format=None) -> str:
        who = f"Projection.{method}"
        self.pre.network.check_open(who)
        if storage_format is not None and storage_format not in STORAGE_FORMATS:
            raise InvalidValueError(f"{who}: storage_format must be None or one of "
                                    f"{', '.join(STORAGE_FORMATS)}, got {show(storage_format)}")
        self._format = storage_format
        if self._pattern is not None:
            raise InvalidValueError(f"{who}: {self!r} is already connected "
                                    f"({self.connector_name}); build a new Projection")
        for what, flag in (("allow_self_connections", allow_self),
                           ("force_multiple_weights", force_multiple)):
            if not isinstance(flag, bool | np.bool_):
                raise InvalidTypeError(f"{who}: {what} must be True or False, got {show(flag)}")
        return who

    def _excludes_self(self, allow: bool) -> bool:
        return self.pre is self.post and not allow

    @property
    def _rng(self) -> np.random.Generator:
        return self.pre.network.default_rng

    def _no_arrays(self, who: str, weights, delays) -> None:
        for what, value in (("weights", weights), ("delays", delays)):
            if isinstance(value, np.ndarray | list | tuple):
                raise InvalidValueError(f"{who}: {what} must be a number or a random "
                                        "distribution (the pattern is drawn here); for given "
                                        "values use connect_from_matrix or connect_from_sparse")

    def _profile(self, who, value_of, keep, delays, allow_self, name) -> "Projection":
        patterns.check_same_dims(self.pre.geometry, self.post.geometry, who)
        self._no_arrays(who, 0.0, delays)
        rows, weights = patterns.profile(self._pre_ranks, self._post_ranks, self.pre.geometry,
                                         self.post.geometry,
                                         self._excludes_self(allow_self), value_of, keep)
        flat = np.concatenate(weights) if weights else np.zeros(0)
        return self._store(who, rows, flat, delays, "ell", name, True)

    def _store(self, who, rows, weights, delays, layout, connector, multiple,
               post_ranks=None) -> "Projection":
        if self._format == "dense" and layout != "dense":  # whole rows, with a mask
            layout = "masked"
            check_elements(self.post.size * self.pre.size, who, "a dense storage of "
                           f"{self.post.size} x {self.pre.size} synapses", arrays=2)
        pattern = patterns.from_rows(self._post_ranks if post_ranks is None else post_ranks,
                                     rows, weights, delays, self._rng, who)
        dtype = self.pre.network.dtype
        problem = fits(pattern.weights, dtype)
        if problem:
            raise InvalidValueError(f"{who}: weight {problem}, the network's precision")
        self._delay_steps(pattern.delays, self.pre.network.dt, who)
        self._pattern, self._layout, self.connector_name = pattern, layout, connector
        self._forced = self._format is not None
        self._single_weight = not multiple and not isinstance(weights, RandomDistribution | \
                                                               np.ndarray | list | tuple)
        self._values = {"w": pattern.weights}
        for name, value in self.synapse_type.parameters.items():
            count = {LOCAL: pattern.nb_synapses, POSTSYNAPTIC: self.post.size,
                     PROJECTION: 1}[self.synapse_type.locality[name]]
            self._values[name] = np.full(count, value)
        return self

    def _delay_steps(self, delays: np.ndarray, dt: float, who: str) -> np.ndarray:
        exact = delays / dt
        if (exact > MAX_DELAY_STEPS + 0.5).any():
            raise InvalidValueError(f"{who}: delays of {delays.max()} ms are more than "
                                    f"{MAX_DELAY_STEPS} steps of dt={dt} ms (the longest "
                                    "history tecomp keeps)")
        steps = np.rint(exact).astype(np.int64)
        if len(delays) and (delays == delays[0]).all() and \
                not math.isclose(steps[0] * dt, delays[0], rel_tol=1e-9, abs_tol=1e-12):
            raise InvalidValueError(f"{who}: delays={delays[0]} ms is not a multiple of "
                                    f"dt={dt} ms")
        return steps

    # -- what plan and engine read ----------------------------------------------------------
    @property
    def connected(self) -> bool:
        return self._pattern is not None

    def _connected(self, who: str) -> Connectivity:
        if self._pattern is None:
            raise InvalidValueError(f"{who}: {self!r} has no connection pattern yet; call a "
                                    "connector such as connect_all_to_all() first")
        return self._pattern

    def delay_steps(self, dt: float) -> int:
        """The delay in steps (the longest one, when synapses have delays of their own)."""
        self._connected(f"Projection {self.name}")
        steps = self._delay_steps(self._pattern.delays, dt, f"Projection {self.name}")
        return int(steps.max(initial=0))

    @property
    def per_synapse_delays(self) -> bool:
        """Whether synapses have delays of their own (in steps of the network's dt)."""
        steps = self._delay_steps(self._connected(f"Projection {self.name}").delays,
                                  self.pre.network.dt, f"Projection {self.name}")
        return len(steps) > 0 and bool((steps != steps[0]).any())

    def spec(self, dtype: str = "float64") -> MatrixSpec:
        """The kernel of this projection, for a network of that precision."""
        pattern = self._connected(f"Projection {self.name}")
        read = names(self.synapse_type.psp_tree, Kind.VAR)
        by = {where: tuple(n for n in self.synapse_type.parameters if n in read and
                           self.synapse_type.locality[n] == where)
              for where in (LOCAL, POSTSYNAPTIC, PROJECTION)}
        by[PROJECTION] += self.constant_names()
        problem = constant_problem(self.synapse_type.psp_tree, dtype)
        if problem:
            raise InvalidValueError(f"Projection {self.name}: psp {self.psp!r}: {problem}; the "
                                    f"network's precision is {dtype}")
        if dtype != "float64":
            for name, values in self._values.items():
                problem = fits(values, dtype)
                if problem:
                    raise InvalidValueError(f"Projection {self.name}: {name} {problem}, the "
                                            "network's precision")
        specs = [self._spec(layout, pattern, by, dtype) for layout in self.layouts()]
        if len(specs) == 1:
            return specs[0]
        # both layouts hold this pattern: the one a tuned record says is faster, if any
        timed = [(record.best_ms, spec) for spec in specs
                 if (record := cache.lookup(spec)) is not None]
        return min(timed, key=lambda t: t[0])[1] if timed else specs[0]

    def layouts(self) -> tuple[str, ...]:
        """The layouts this projection's kernel may take, its connector's first: padded rows
        may also be whole rows with a mask (when the dense rows fit MAX_MASKED_PAIRS), a
        tuning choice unless storage_format asked for one."""
        if self._layout == "ell" and not self._forced and \
                self.post.size * self.pre.size <= MAX_MASKED_PAIRS:
            return ("ell", "masked")
        return (self._layout,)

    def layout_specs(self, dtype: str = "float64") -> list[MatrixSpec]:
        """The kernel in each of its layouts (what a tuner times to choose between them)."""
        pattern = self._connected(f"Projection {self.name}")
        chosen = self.spec(dtype)
        by = {LOCAL: chosen.synapse_vars[1:], POSTSYNAPTIC: chosen.dendrite_vars,
              PROJECTION: chosen.projection_vars}
        return [self._spec(layout, pattern, by, dtype) for layout in self.layouts()]

    def _spec(self, layout: str, pattern: Connectivity, by: dict, dtype: str) -> MatrixSpec:
        return MatrixSpec(layout, self.pre.size, self.post.size, self._row(pattern, layout),
                          self.operation, self.synapse_type.psp_tree, ("w", *by[LOCAL]),
                          by[POSTSYNAPTIC], by[PROJECTION],
                          diagonal=layout == "dense" and self.pre is self.post and
                          pattern.nb_synapses < self.pre.size * self.post.size, dtype=dtype)

    def constant_names(self) -> tuple[str, ...]:
        """The Constants the psp reads (one-value kernel inputs that follow the Constant)."""
        read = names(self.synapse_type.psp_tree, Kind.VAR) - {"w"}
        wanted = tuple(sorted(read - set(self.synapse_type.parameters)))
        visible = constants.visible(self.pre.network)
        for name in wanted:
            if name not in visible:
                raise InvalidValueError(f"Projection {self.name}: its psp reads {name!r}, which "
                                        "is no Constant of this network; create it with "
                                        f"net.constant({name!r}, value) (or ann.Constant)")
        return wanted

    def _row(self, pattern: Connectivity, layout: str) -> int:
        if layout in ("dense", "masked"):
            return self.pre.size
        if layout == "one_to_one":
            return 1
        longest = int(pattern.counts.max(initial=0))
        return max(1, longest if longest <= ROW_MULTIPLE else
                   -(-longest // ROW_MULTIPLE) * ROW_MULTIPLE)

    def _positions(self, layout: str | None = None) -> np.ndarray:
        """Where each synapse (in pattern order) sits in the kernel's per-synapse arrays
        (flat index), in `layout` (default: that of the compiled kernel)."""
        layout = layout or self._built or self._layout
        pattern = self._pattern
        rows = pattern.rows()
        if layout in ("dense", "masked"):
            return rows * self.pre.size + pattern.pre_ranks
        if layout == "one_to_one":
            return rows
        within = np.arange(pattern.nb_synapses) - np.repeat(pattern.indptr[:-1], pattern.counts)
        return rows * self._row(pattern, layout) + within

    def kernel_inputs(self) -> dict[str, np.ndarray]:
        """The kernel's arguments after the pre and post variables, in order (float64
        arrays are cast to the network's precision; int32 ones stay int32)."""
        spec = self.spec(self.pre.network.dtype)
        pattern = self._pattern
        self._built = spec.layout  # what get() and set() index from now on
        positions = self._positions(spec.layout)
        inputs = {}
        for name in spec.synapse_vars:
            values = np.zeros(math.prod(spec.synapse_shape))
            values[positions] = self._values[name]
            inputs[name] = values.reshape(spec.synapse_shape)
        if self.per_synapse_delays and spec.pre_vars:  # see plan: the kernel reads rings
            steps = np.zeros(math.prod(spec.synapse_shape), dtype=np.int32)
            steps[positions] = self._delay_steps(pattern.delays, self.pre.network.dt,
                                                 f"Projection {self.name}")
            inputs["delays"] = steps.reshape(spec.synapse_shape)
        if spec.layout == "masked":
            present = np.zeros(spec.post * spec.row, dtype=np.uint8)
            present[positions] = 1
            inputs["present"] = present.reshape(spec.post, spec.row)
            counts = np.zeros(spec.post, dtype=np.int32)
            counts[pattern.post_ranks] = pattern.counts
            inputs["counts"] = counts
        if spec.layout == "ell":
            ranks = np.zeros(spec.post * spec.row, dtype=np.int32)
            ranks[positions] = pattern.pre_ranks
            counts = np.zeros(spec.post, dtype=np.int32)
            counts[pattern.post_ranks] = pattern.counts
            inputs["pre_ranks"] = ranks.reshape(spec.post, spec.row)
            inputs["counts"] = counts
        for name in spec.dendrite_vars:
            inputs[name] = self._values[name].copy()
        visible = constants.visible(self.pre.network)
        for name in spec.projection_vars:
            inputs[name] = self._values[name].copy() if name in self._values else \
                np.array([visible[name].value])
        return inputs

    def weight_source(self) -> "Projection":
        return self

    # -- save() and load() (see tecomp.saving) ---------------------------------------------
    def saved_state(self) -> dict[str, np.ndarray]:
        """What save() writes: the pattern (to check a file against) and every attribute."""
        pattern = self._connected("save")
        state = {"post_ranks": pattern.post_ranks, "indptr": pattern.indptr,
                 "pre_ranks": pattern.pre_ranks}
        return state | {name: np.array(self._flat(name)) for name in self.attributes}

    def state_difference(self, stored: dict) -> str | None:
        pattern = self._connected("load")
        for key in ("post_ranks", "indptr", "pre_ranks"):
            value = stored.get(key)
            if value is None or value.shape != getattr(pattern, key).shape or \
                    not np.array_equal(value, getattr(pattern, key)):
                return "its connection pattern differs from the file's"
        for name in self.attributes:
            value = stored.get(name)
            if value is None or value.shape != self._flat(name).shape:
                return (f"{name} has shape {None if value is None else value.shape} in the "
                        f"file, {self._flat(name).shape} in the network")
        return None

    def checked_state(self, stored: dict, who: str) -> dict:
        state = {}
        for name in self.attributes:
            values = array(stored[name], who, name, dtype=self.pre.network.dtype)
            if values.shape != self._flat(name).shape:
                raise InvalidValueError(f"{who}: {name} has shape {values.shape} in the file, "
                                        f"{self._flat(name).shape} in the network")
            problem = fits(values, self.pre.network.dtype)
            if problem:
                raise InvalidValueError(f"{who}: {name} {problem}, the network's precision")
            state[name] = values
        return state

    def restore_state(self, state: dict) -> None:
        for name, values in state.items():
            self._write(name, values)

    # -- ANNarchy's access -------------------------------------------------------------------
    @property
    def size(self) -> int:
        """Number of post neurons receiving synapses (dendrites)."""
        return len(self._connected("Projection.size").post_ranks)

    def __len__(self) -> int:
        return self.size

    @property
    def post_ranks(self) -> list[int]:
        return self._connected("Projection.post_ranks").post_ranks.tolist()

    @property
    def nb_synapses(self) -> int:
        return self._connected("Projection.nb_synapses").nb_synapses

    @property
    def delay(self):
        """The delays in ms as the simulation uses them (rounded to steps of dt): one number
        when every synapse has the same, else one list per dendrite (ANNarchy's
        `proj.delay`). Assign a number, a distribution or one value per synapse (in
        dendrite order) to change them, before compile()."""
        pattern = self._connected("Projection.delay")
        used = self._used_delays()
        if not self.per_synapse_delays:
            return float(used[0]) if len(used) else 0.0
        return [used[a:b].tolist() for a, b in zip(pattern.indptr[:-1], pattern.indptr[1:],
                                                   strict=True)]

    @delay.setter
    def delay(self, value) -> None:
        who = "Projection.delay"
        pattern = self._connected(who)
        if self.pre.network.engine is not None:
            raise NetworkStateError(f"{who}: {self!r} is compiled; its delays decide the "
                                    "history each step keeps, so set them before compile()")
        delays = patterns.synapse_values(value, pattern.nb_synapses, self._rng, who, "delays")
        self._delay_steps(delays, self.pre.network.dt, who)
        self._pattern = dataclasses.replace(pattern, delays=delays)

    delays = delay  # the name of the connectors' argument (and of Convolution's attribute)

    def _used_delays(self) -> np.ndarray:
        dt = self.pre.network.dt
        return self._delay_steps(self._pattern.delays, dt, f"Projection {self.name}") * dt

    @property
    def attributes(self) -> list[str]:
        return ["w", *self.synapse_type.parameters]

    @property
    def parameters(self) -> list[str]:
        return list(self.synapse_type.parameters)

    @property
    def variables(self) -> list[str]:
        return ["w"]

    def _flat(self, name: str) -> np.ndarray:
        """The live values of an attribute: per synapse in pattern order, per post neuron, or
        one value."""
        engine = self.pre.network.engine
        buffers = None if engine is None else engine.inputs.get(self)
        if buffers is None or name not in buffers:
            return self._values[name]
        live = buffers[name].reshape(-1)
        if self._locality(name) == LOCAL:
            return live[self._positions()].astype(np.float64)
        return live.astype(np.float64)

    def _write(self, name: str, values: np.ndarray) -> None:
        engine = self.pre.network.engine
        buffers = None if engine is None else engine.inputs.get(self)
        if buffers is not None and name in buffers:
            live = buffers[name].reshape(-1)
            if self._locality(name) == LOCAL:
                live[self._positions()] = values
            else:
                live[...] = values
        self._values[name] = values.copy()

    def _locality(self, name: str) -> str:
        return LOCAL if name == "w" else self.synapse_type.locality[name]

    def _check_attribute(self, name, who: str) -> None:
        if name not in self.attributes:
            raise UnknownAttributeError(f"{who}: {self!r} has no attribute {show(name)}; it "
                                        f"has {', '.join(self.attributes)}")

    def get(self, name: str):
        """Per dendrite, as ANNarchy: a list (one per post rank of `post_ranks`) of lists of
        per-synapse values for `w` and local parameters; a list of one value per dendrite for
        postsynaptic parameters; one number for projection parameters and for a weight given
        as one number."""
        self._check_attribute(name, "Projection.get")
        pattern = self._connected("Projection.get")
        flat = self._flat(name)
        where = self._locality(name)
        if where == PROJECTION or (name == "w" and self._single_weight):
            return float(flat[0]) if len(flat) else 0.0
        if where == POSTSYNAPTIC:
            return flat[pattern.post_ranks].tolist()
        return [flat[a:b].tolist() for a, b in zip(pattern.indptr[:-1], pattern.indptr[1:],
                                                   strict=True)]

    def set(self, values: dict) -> None:
        """`set({name: value})` for each entry: a number (every synapse, dendrite or the
        projection), one value per dendrite, or (for `w` and local parameters) one list of
        values per dendrite, each as long as the dendrite. Checked whole before any change."""
        who = "Projection.set"
        if not isinstance(values, dict):
            raise InvalidTypeError(f"{who}: expected a dict {{name: value}}, got "
                                   f"{type(values).__name__}")
        pattern = self._connected(who)
        checked = {}
        for name, value in values.items():
            self._check_attribute(name, who)
            checked[name] = self._expand(name, value, pattern, who)
        for name, value in checked.items():
            self._write(name, value)
            if name == "w":
                self._single_weight = self._single_weight and \
                    not isinstance(values[name], list | tuple) and np.ndim(values[name]) == 0 and \
                    not isinstance(values[name], RandomDistribution)

    def _expand(self, name: str, value, pattern: Connectivity, who: str) -> np.ndarray:
        where = self._locality(name)
        count = {LOCAL: pattern.nb_synapses, POSTSYNAPTIC: self.post.size, PROJECTION: 1}[where]
        dtype = self.pre.network.dtype
        if isinstance(value, RandomDistribution):
            result = patterns.synapse_values(value, count, self._rng, who, name)
        elif not isinstance(value, list | tuple) and np.ndim(value) == 0:
            result = np.full(count, number(value, who, name, "a number", dtype=dtype))
        elif where == PROJECTION:
            raise InvalidValueError(f"{who}: {name} is one value for the projection, got "
                                    f"{show(value)}")
        else:
            result = self._per_dendrite(name, value, pattern, where, who)
        problem = fits(result, dtype)
        if problem:
            raise InvalidValueError(f"{who}: {name} {problem}, the network's precision")
        if where == POSTSYNAPTIC and count != len(pattern.post_ranks):
            current = self._flat(name).copy()
            current[pattern.post_ranks] = result[:len(pattern.post_ranks)]
            return current
        return result

    def _per_dendrite(self, name, value, pattern, where, who) -> np.ndarray:
        dendrites = len(pattern.post_ranks)
        try:
            items = list(value)
        except TypeError:
            raise InvalidTypeError(f"{who}: {name} must be a number or a list, got "
                                   f"{show(value)}") from None
        if len(items) != dendrites:
            raise InvalidValueError(f"{who}: {name} needs one entry per dendrite ({dendrites}, "
                                    f"see post_ranks), got {len(items)}")
        if where == POSTSYNAPTIC or all(np.ndim(v) == 0 for v in items):
            per = array(items, who, name)
            if where == POSTSYNAPTIC:
                return per  # one per dendrite: _expand places them at post_ranks
            return np.repeat(per, pattern.counts)
        parts = []
        for k, item in enumerate(items):
            row = array(item, who, f"{name} of dendrite {pattern.post_ranks[k]}").reshape(-1)
            if len(row) != pattern.counts[k]:
                raise InvalidValueError(f"{who}: post neuron {pattern.post_ranks[k]} receives "
                                        f"{pattern.counts[k]} synapses, got {len(row)} values "
                                        f"for {name}")
            parts.append(row)
        return np.concatenate(parts)

    def __getattr__(self, name: str):
        if name.startswith("_") or name not in ("w", *self.__dict__.get(
                "synapse_type", Synapse()).parameters):
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        return self.get(name)

    def __setattr__(self, name: str, value) -> None:
        synapse = self.__dict__.get("synapse_type")
        if synapse is not None and (name == "w" or name in synapse.parameters):
            self.set({name: value})
        else:
            object.__setattr__(self, name, value)

    def dendrite(self, post) -> "Dendrite":
        """The synapses of one post neuron, by rank or coordinates."""
        pattern = self._connected("Projection.dendrite")
        if isinstance(post, tuple | list):
            post = self.post.rank_from_coordinates(tuple(post))
        if isinstance(post, bool | np.bool_) or not isinstance(post, int | np.integer):
            raise InvalidTypeError(f"Projection.dendrite: expected a post rank or coordinates, "
                                   f"got {show(post)}")
        index = np.searchsorted(pattern.post_ranks, post)
        if index >= len(pattern.post_ranks) or pattern.post_ranks[index] != post:
            raise InvalidValueError(f"Projection.dendrite: post neuron {post} receives no "
                                    f"synapse of {self!r} (see post_ranks)")
        return Dendrite(self, int(post), int(index))

    @property
    def dendrites(self):
        pattern = self._connected("Projection.dendrites")
        return [Dendrite(self, int(rank), k) for k, rank in enumerate(pattern.post_ranks)]

    def __iter__(self):
        return iter(self.dendrites)

    def connectivity_matrix(self, fill: float = 0.0) -> np.ndarray:
        """A dense (post.size, pre.size) matrix of the weights, `fill` where there is no
        synapse (ANNarchy's convention)."""
        who = "Projection.connectivity_matrix"
        pattern = self._connected(who)
        fill = number(fill, who, "fill", "a number", finite=False, dtype=None)
        _check_dense(self.post.size * self.pre.size, who)
        matrix = np.full((self.post.size, self.pre.size), fill)
        matrix[pattern.rows(), pattern.pre_ranks] = self._flat("w")
        return matrix

    def receptive_fields(self, variable: str = "w", in_post_geometry: bool = True) -> np.ndarray:
        """Every post neuron's receptive field (its values over the pre geometry, 0 where no
        synapse), tiled in a 2-D array as the post neurons are laid out (or in a near-square
        grid): ANNarchy's layout, for 2-D pre populations."""
        who = "Projection.receptive_fields"
        pattern = self._connected(who)
        self._check_attribute(variable, who)
        if self._locality(variable) != LOCAL:
            raise InvalidValueError(f"{who}: {variable} is not a per-synapse attribute")
        if len(self.pre.geometry) != 2:
            raise InvalidValueError(f"{who}: pre must have a 2-D geometry, got "
                                    f"{self.pre.geometry}")
        if in_post_geometry:
            if len(self.post.geometry) != 2:
                raise InvalidValueError(f"{who}: post must have a 2-D geometry with "
                                        f"in_post_geometry=True, got {self.post.geometry}")
            rows, columns = self.post.geometry
        else:
            columns = max(1, math.isqrt(self.post.size))
            rows = -(-self.post.size // columns)
        height, width = self.pre.geometry
        _check_dense(rows * columns * self.pre.size, who)
        fields = np.zeros((rows * columns, self.pre.size))
        fields[pattern.rows(), pattern.pre_ranks] = self._flat(variable)
        return fields.reshape(rows, columns, height, width).transpose(0, 2, 1, 3).reshape(
            rows * height, columns * width)

    def __repr__(self) -> str:
        return f"Projection({self.pre.name} -> {self.post.name}, target={self.target!r})"


class Dendrite:
    """The synapses of one post neuron: `pre_ranks`, `w` and the synapse's parameters."""

    def __init__(self, projection: Projection, post_rank: int, index: int):
        object.__setattr__(self, "proj", projection)
        object.__setattr__(self, "post_rank", post_rank)
        object.__setattr__(self, "_index", index)

    def _span(self) -> slice:
        indptr = self.proj._pattern.indptr
        return slice(int(indptr[self._index]), int(indptr[self._index + 1]))

    @property
    def pre_ranks(self) -> list[int]:
        return self.proj._pattern.pre_ranks[self._span()].tolist()

    @property
    def size(self) -> int:
        span = self._span()
        return span.stop - span.start

    @property
    def delay(self) -> list[float]:
        """The delay of each synapse in ms, as the simulation uses it (steps of dt)."""
        return self.proj._used_delays()[self._span()].tolist()

    def __len__(self) -> int:
        return self.size

    def get(self, name: str):
        self.proj._check_attribute(name, "Dendrite.get")
        flat = self.proj._flat(name)
        where = self.proj._locality(name)
        if where == PROJECTION:
            return float(flat[0])
        if where == POSTSYNAPTIC:
            return float(flat[self.post_rank])
        return flat[self._span()].tolist()

    def set(self, values: dict) -> None:
        if not isinstance(values, dict):
            raise InvalidTypeError(f"Dendrite.set: expected a dict {{name: value}}, got "
                                   f"{type(values).__name__}")
        proj = self.proj
        checked = {}
        for name, value in values.items():
            proj._check_attribute(name, "Dendrite.set")
            where = proj._locality(name)
            if where == PROJECTION:
                raise InvalidValueError(f"Dendrite.set: {name} is one value for the whole "
                                        "projection; set it on the projection")
            current = proj._flat(name).copy()
            if where == POSTSYNAPTIC:
                current[self.post_rank] = number(value, "Dendrite.set", name, "a number",
                                                 dtype=proj.pre.network.dtype)
            else:
                span = self._span()
                given = np.full(self.size, number(value, "Dendrite.set", name, "a number")) \
                    if np.ndim(value) == 0 else array(value, "Dendrite.set", name).reshape(-1)
                if len(given) != self.size:
                    raise InvalidValueError(f"Dendrite.set: post neuron {self.post_rank} has "
                                            f"{self.size} synapses, got {len(given)} values")
                current[span] = given
            problem = fits(current, proj.pre.network.dtype)
            if problem:
                raise InvalidValueError(f"Dendrite.set: {name} {problem}, the network's "
                                        "precision")
            checked[name] = current
        for name, value in checked.items():
            proj._write(name, value)
            if name == "w":
                proj._single_weight = False

    def receptive_field(self, variable: str = "w", fill: float = 0.0) -> np.ndarray:
        """The values over the pre geometry, `fill` where there is no synapse."""
        proj = self.proj
        field = np.full(proj.pre.size, number(fill, "Dendrite.receptive_field", "fill",
                                              "a number", finite=False, dtype=None))
        field[self.pre_ranks] = self.get(variable)
        return field.reshape(proj.pre.geometry)

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return self.get(name)

    def __setattr__(self, name: str, value) -> None:
        self.set({name: value})

    def __repr__(self) -> str:
        return f"Dendrite({self.proj.name}, post rank {self.post_rank}, {self.size} synapses)"


def _check_dense(elements: int, who: str) -> None:
    if elements * ITEM_BYTES > MAX_MATRIX_BYTES:
        raise InvalidValueError(f"{who}: a dense result of {elements} values would take "
                                f"{size_of(elements * ITEM_BYTES)}, more than "
                                f"{size_of(MAX_MATRIX_BYTES)}; read the dendrites instead")
