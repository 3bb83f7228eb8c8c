"""The Python module ``bindings``: one function per rung of the Mojo ladder.

Each takes one tuple (see conv_common.Conv.from_python) and writes ``out``.
``constants()`` says which compile-time constants this module was built with.
"""

from std.os import abort
from std.python import Python, PythonObject
from std.python.bindings import PythonModuleBuilder

from conv_common import Conv
from conv_direct import FILTERS, VECTORS, conv2d_direct
from conv_loops import conv2d_loops
from conv_simd import WIDTH, conv2d_parallel, conv2d_simd


@export
def PyInit_bindings() abi("C") -> PythonObject:
    try:
        var module = PythonModuleBuilder("bindings")
        module.def_function[loops]("conv2d_loops", docstring="Rung 1: plain loops")
        module.def_function[simd]("conv2d_simd", docstring="Rung 2: SIMD")
        module.def_function[parallel]("conv2d_parallel", docstring="Rung 3: threads")
        module.def_function[direct]("conv2d_direct", docstring="Rung 4: chapter 9")
        module.def_function[constants]("constants", docstring="Built with these")
        return module.finalize()
    except e:
        abort(String("failed to create the Python module: ", e))


def loops(args: PythonObject) raises -> PythonObject:
    conv2d_loops(Conv.from_python(args))
    return PythonObject(None)


def simd(args: PythonObject) raises -> PythonObject:
    conv2d_simd(Conv.from_python(args))
    return PythonObject(None)


def parallel(args: PythonObject) raises -> PythonObject:
    conv2d_parallel(Conv.from_python(args))
    return PythonObject(None)


def direct(args: PythonObject) raises -> PythonObject:
    conv2d_direct(Conv.from_python(args))
    return PythonObject(None)


def constants() raises -> PythonObject:
    var built = Python.dict()
    built["WIDTH"] = WIDTH
    built["FILTERS"] = FILTERS
    built["VECTORS"] = VECTORS
    return built
