"""The vocabulary lowering and the schedule templates meet on: stage names and block sizes.

Lowering names its stages with these; the templates look them up by the same names. Kept
apart from both so that choosing knobs (`schedules.default_knobs`, `candidates`) needs no
TVM.
"""


class Stage:
    """Names of the stages lowering makes, which the schedule templates look up."""

    OUTPUT = "Y"  # the window reduction
    WEIGHTS = "WT"  # a bank's weights with the filter axis last
    PADDED = "P_"  # prefix of the input stages: P_r, P_g0, ...
    UPDATE = "update"  # a population update (one loop nest, one output per variable)
    REDUCE = "reduce_"  # prefix of a population-wide operation's stages: reduce_0, ...
    FINISH = "finish"  # a regular projection's mean division and empty rows, after `Y`
    GATHER = "GW"  # one size's filters cut from a padded bank (g0_GW, g1_GW, ...)


# The main part of a population-wide reduction covers a multiple of this many neurons (see
# `lowering._reduce`), so that every vector width up to it divides it.
REDUCE_BLOCK = 64
