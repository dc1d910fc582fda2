"""The peers of B7 and B8 (regular projections: a matrix-vector product), each at its best.

- NumPy `W @ x` (B7): the dense (post, pre) matrix in the run's precision, C-contiguous
  (BLAS gemv, OPENBLAS_NUM_THREADS = the thread count);
- scipy.sparse CSR `@` (B8): float32/float64 data, int32 indices (single-threaded);
- PyTorch `torch.mv` (B7) and a `torch.sparse_csr_tensor` @ vector (B8), with
  `set_num_threads(threads)`, under `torch.inference_mode()`.

Each runner gives the post rates as a flat vector, as tecomp's `post.r`.

>>> import numpy as np
>>> from tecomp.tools import suite
>>> case = suite.CASES["B8"].quick()
>>> rng = np.random.default_rng(0)
>>> w, x = case.draw_weights(rng), case.inputs(rng, "float32")
>>> runner = scipy_sparse(case, x, w)
>>> runner.timed() > 0 and runner.output().shape == (2000,)
True
"""

import numpy as np
import scipy.sparse

from .harness import Runner, Skip
from .suite import Case


def _dense(w, dtype) -> np.ndarray:
    return np.ascontiguousarray(w.toarray() if scipy.sparse.issparse(w) else w, dtype=dtype)


def _csr(w, dtype) -> scipy.sparse.csr_matrix:
    w = scipy.sparse.csr_matrix(w)
    return scipy.sparse.csr_matrix((w.data.astype(dtype), w.indices.astype(np.int32),
                                    w.indptr.astype(np.int32)), shape=w.shape)


def numpy_matvec(case: Case, x: np.ndarray, w) -> Runner:
    """NumPy's dense `W @ x` (B7); a sparse case has no dense NumPy peer."""
    if case.probability is not None:
        raise Skip("NumPy has no sparse product (scipy.sparse CSR is the peer); a dense "
                   "W @ x would hold the whole (post, pre) matrix")
    matrix, vector = _dense(w, x.dtype), x.ravel()
    return Runner("numpy", lambda: matrix @ vector, lambda out: out, kind="W @ x")


def scipy_sparse(case: Case, x: np.ndarray, w) -> Runner:
    """scipy's CSR `@` with data in the run's precision and int32 indices (B8)."""
    if case.probability is None:
        raise Skip("dense all_to_all: NumPy's W @ x is the peer, not scipy.sparse")
    matrix, vector = _csr(w, x.dtype), x.ravel()
    return Runner("scipy", lambda: matrix @ vector, lambda out: out, kind="CSR @",
                  index_dtype=str(matrix.indices.dtype))


def pytorch(case: Case, x: np.ndarray, w, threads: int) -> Runner:
    """`torch.mv` on the dense matrix (B7) or a sparse CSR tensor @ vector (B8), with
    `threads` intra-op threads, under `torch.inference_mode()`."""
    try:
        import torch
    except ImportError:
        raise Skip("PyTorch is not installed (pip install '.[peers]')") from None
    torch.set_num_threads(threads)
    vector = torch.from_numpy(np.ascontiguousarray(x.ravel()))
    if case.probability is None:
        matrix = torch.from_numpy(_dense(w, x.dtype))
        kind = "mv"

        def run():
            with torch.inference_mode():
                return torch.mv(matrix, vector)
    else:
        csr = _csr(w, x.dtype)
        matrix = torch.sparse_csr_tensor(torch.from_numpy(csr.indptr),
                                         torch.from_numpy(csr.indices),
                                         torch.from_numpy(csr.data), size=csr.shape)
        kind = "sparse CSR @ vector"

        def run():
            with torch.inference_mode():
                return matrix @ vector
    return Runner("torch", run, lambda out: out.numpy(), kind=kind,
                  threads=torch.get_num_threads())


def connectivity(proj) -> scipy.sparse.csr_matrix:
    """A tecomp regular projection's synapses as a (post.size, pre.size) CSR matrix of its
    weights, from the public API (`post_ranks`, each dendrite's `pre_ranks`, `get("w")`)."""
    n_post, n_pre = proj.post.size, proj.pre.size
    counts = np.zeros(n_post, np.int64)
    ranks = [np.asarray(d.pre_ranks, np.int32) for d in proj.dendrites]
    counts[proj.post_ranks] = [len(r) for r in ranks]
    weights = proj.get("w")
    if isinstance(weights, float | int):  # one weight for every synapse
        weights = [np.full(len(r), weights) for r in ranks]
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    indices = np.concatenate(ranks) if ranks else np.zeros(0, np.int32)
    data = np.concatenate([np.asarray(v, np.float64) for v in weights]) if ranks else \
        np.zeros(0)
    return scipy.sparse.csr_matrix((data, indices, indptr), shape=(n_post, n_pre))
