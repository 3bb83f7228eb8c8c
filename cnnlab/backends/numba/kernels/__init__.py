"""Compiled Numba kernels, one module per family.

Each takes arrays that the public operators have already validated and
prepared, and writes into an output array. The chapter that introduces a
kernel calls it by its public name here.
"""
