"""Checkers for the book's exercises, one module per chapter: ``check_conv2d(fn)``.

Each checker runs a student's function on a graded series of cases and returns
a :class:`cnnlab.teaching.grading.Report` whose text is the feedback. Notebooks
import them from :mod:`cnnlab.exercises`; a teacher finds them here, in the
module named after the chapter's notebook:

================================  ================================================
module (chapter, notebook)        checkers
================================  ================================================
``ch01_what_is_a_cnn``            check_output_size, check_conv2d_flops,
                                  check_softmax, check_receptive_field
``ch02_convolution_in_python``    check_pad2d, check_conv2d, check_conv2d_dilated
``ch03_measuring_performance``    check_relative_spread,
                                  check_arithmetic_intensity,
                                  check_flops_without_padding
``ch04_vectorizing_with_numpy``   check_max_pool2d, check_conv2d_layer,
                                  check_conv2d_dilated_fast
``ch05_compiling_with_numba``     check_relu, check_conv2d_bias_relu,
                                  check_conv1x1_fast
``ch06_log_softmax_batchnorm``    check_log_softmax, check_fold_batchnorm
``ch06_pooling``                  check_avg_pool2d, check_avg_pool_relu
``ch07_the_whole_network``        check_flat_features, check_lenet_parameters,
                                  check_lenet_forward
``ch08_how_close_to_the_limit``   check_conv2d_intensity, check_roofline_time,
                                  check_speedup_ceiling
``ch09_the_fastest_path``         check_tap_offsets, check_conv2d_padded_width,
                                  check_winograd_f23
``ch10_backpropagation_by_hand``  check_relu_backward, check_linear_backward,
                                  check_max_pool2d_backward,
                                  check_softmax_cross_entropy
``ch11_training_on_digits``       check_confusion_matrix, check_sgd_momentum_step
``ch12_python_against_mojo``      check_simd_lanes, check_simd_width_experiment,
                                  check_filters_experiment
================================  ================================================

What the chapters share: ``cases`` (the reference backend, seeds and
tolerances the cases are built from), ``formulas`` (FLOPs, intensity and the
roofline, computed from their definitions), ``outputs`` (grading a function
that returns a tuple, one output at a time) and ``speed``
(:func:`check_faster_than`, for the exercises that must also be fast).
"""

from types import ModuleType

from cnnlab.teaching.checkers import speed
from cnnlab.teaching.checkers.ch01_what_is_a_cnn import *  # noqa: F403
from cnnlab.teaching.checkers.ch02_convolution_in_python import *  # noqa: F403
from cnnlab.teaching.checkers.ch03_measuring_performance import *  # noqa: F403
from cnnlab.teaching.checkers.ch04_vectorizing_with_numpy import *  # noqa: F403
from cnnlab.teaching.checkers.ch05_compiling_with_numba import *  # noqa: F403
from cnnlab.teaching.checkers.ch06_log_softmax_batchnorm import *  # noqa: F403
from cnnlab.teaching.checkers.ch06_pooling import *  # noqa: F403
from cnnlab.teaching.checkers.ch07_the_whole_network import *  # noqa: F403
from cnnlab.teaching.checkers.ch08_how_close_to_the_limit import *  # noqa: F403
from cnnlab.teaching.checkers.ch09_the_fastest_path import *  # noqa: F403
from cnnlab.teaching.checkers.ch10_backpropagation_by_hand import *  # noqa: F403
from cnnlab.teaching.checkers.ch11_training_on_digits import *  # noqa: F403
from cnnlab.teaching.checkers.ch12_python_against_mojo import *  # noqa: F403
from cnnlab.teaching.checkers.speed import *  # noqa: F403

# The modules whose ``__all__`` make up the checkers: the chapters in the order of the
# book (each name starts with its chapter number; ``from .chNN import *`` binds the
# module here too), then speed.
MODULES: tuple[ModuleType, ...] = (
    *(
        module
        for name, module in sorted(globals().items())
        if name.startswith("ch") and isinstance(module, ModuleType)
    ),
    speed,
)

__all__ = [name for module in MODULES for name in module.__all__]
