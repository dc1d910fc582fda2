"""TVM's MetaSchedule as a second opinion for the tuner (`tecomp-tune --metaschedule`).

MetaSchedule searches its own schedule space from the unscheduled kernel. Its best schedule
is kept as a trace (`{"trace": ...}` in place of template knobs), timed by the same worker
as the template's candidates, and the tuner keeps whichever is faster. Needs the extras of
`pip install -e ".[metaschedule]"` (psutil and cloudpickle for its worker pool; xgboost for
its default cost model, else random search).
"""

import importlib.util
import tempfile

import tvm
from tvm import s_tir
from tvm.s_tir import meta_schedule as ms

from .. import build, kernels
from ..knobs import TraceKnobs


def fast_build(mod, target, _params=None):
    """MetaSchedule's default builder imports modules that take ~20 s in every fresh worker
    (and then times out); this one only lowers and compiles."""
    mod = s_tir.transform.RemoveWeightLayoutRewriteBlock(skip_tensor_rewrite=True)(mod)
    return tvm.tirx.build(mod, target)


def search(spec, trials: int = 64, work_dir: str | None = None,
           seed: int = 0) -> TraceKnobs | None:
    """Tune one spec with MetaSchedule; returns its best schedule as a trace, or None."""
    mod = kernels.prim_func(spec)
    cost_model = "xgb" if importlib.util.find_spec("xgboost") else "random"
    with tempfile.TemporaryDirectory(prefix="tecomp-ms-") as scratch:
        database = ms.tune_tir(
            mod, build.host_target(), work_dir or scratch, max_trials_global=trials,
            num_trials_per_iter=min(32, trials),
            builder=ms.builder.LocalBuilder(f_build=fast_build, timeout_sec=120),
            runner=ms.runner.LocalRunner(timeout_sec=60, evaluator_config=ms.runner.EvaluatorConfig(
                number=3, repeat=3, min_repeat_ms=50)),
            cost_model=cost_model, seed=seed)
        schedule = database.query_schedule(mod, build.host_target(), "main")
    if schedule is None:
        return None
    return TraceKnobs(tvm.ir.save_json(schedule.trace.as_json()))


def apply(spec, knobs: TraceKnobs) -> tvm.IRModule:
    """The kernel of a spec scheduled by a MetaSchedule trace."""
    sch = s_tir.Schedule(kernels.prim_func(spec))
    s_tir.schedule.Trace.apply_json_to_schedule(tvm.ir.load_json(knobs.trace), sch)
    return sch.mod
