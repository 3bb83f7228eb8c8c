"""Compiled Numba kernels, one module per family.

Each takes arrays that the public operators have already validated and prepared,
and writes into an output array. The chapter that introduces a kernel calls it by
its public name here; :mod:`cnnlab.backends.numba.chooser` decides which one runs.

Most kernels come as twins: ``name`` spreads its work items over all threads with
``prange`` and ``name_serial`` runs the very same items in one thread, for small
inputs where starting threads costs more than it saves. They are two functions, not
one compiled twice with and without ``parallel=True``: a ``cache=True`` function
keeps one on-disk cache per function, so its parallel and serial compilations would
share it and load each other's entry.
"""

REASSOCIATE = {"reassoc", "contract", "nsz"}
"""Fast-math flags that let LLVM reassociate a sum.

Plain IEEE semantics make LLVM add a dot product's terms in order, one at a time;
with reassociation it keeps one partial sum per vector lane. NaN and infinity
handling stay exact (no "nnan"/"ninf"). Sums keep the data's dtype: split into one
partial sum per lane, a float32 sum of a few thousand terms stays within ~1e-6
relative.
"""
