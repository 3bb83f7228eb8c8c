"""Rung 4: chapter 9's direct design, in Mojo.

The Numba version is cnnlab/backends/numba/kernels/conv_direct.py.

* **Padded-width grid.** A work item copies the input rows of a block of
  output rows into a small zero-padded buffer, rows as wide as the padded
  input (WP = W + 2 PW). On a grid of that width, tap (di, dj) of every output
  is the input at the constant offset di * WP + dj, so one flat loop runs over
  all the block's outputs; the grid points past OW in each row are garbage
  and are never stored.
* **Several filters per pass.** FILTERS filters share every loaded input
  vector: each load feeds FILTERS fused multiply-adds.
* **Accumulators in registers.** FILTERS x VECTORS vectors of WIDTH outputs,
  unrolled at compile time (``comptime for``), stay in registers for the whole
  sum over channels and taps; out is written once.
* **3x3 known at compile time.** For the commonest window the tap loops are
  unrolled too (``grid_pass[..., taps=3]``): every load offset but the row
  width is a constant; other windows run the same code with runtime loops.
"""

from std.math import fma
from std.utils import StaticTuple

from conv_common import Conv, FloatPtr, Job, run_parallel, untracked
from conv_simd import WIDTH

comptime FILTERS = 4
"""Filters per pass: each loaded vector feeds this many multiply-adds."""
comptime VECTORS = 2
"""Vectors of WIDTH grid points per pass (FILTERS * VECTORS accumulators)."""
comptime BUFFER_FLOATS = 65536
"""A work item's buffer holds about this many floats (256 KiB): it stays in L2."""

comptime Vec = SIMD[DType.float32, WIDTH]


def store_grid(p: Conv, acc: Vec, n: Int, f: Int, r0: Int, rows: Int, wp: Int, g: Int):
    """Grid points g ... g + WIDTH - 1 of filter f into out, garbage ones dropped."""
    var ow, oh = p.ow(), p.oh()
    var r, j = divmod(g, wp)
    if r < rows and j + WIDTH <= ow:
        p.out.unsafe_store(((n * p.f + f) * oh + r0 + r) * ow + j, acc)
        return
    # the vector reaches past the row's last output: point by point
    for lane in range(WIDTH):
        var rr, jj = divmod(g + lane, wp)
        if rr < rows and jj < ow:
            p.out[unsafe_offset=((n * p.f + f) * oh + r0 + rr) * ow + jj] = acc[lane]


@always_inline
def add_tap[
    filters: Int, vectors: Int
](
    p: Conv,
    xc: FloatPtr,
    mut acc: StaticTuple[Vec, filters * vectors],
    f0: Int,
    c: Int,
    di: Int,
    dj: Int,
    wp: Int,
):
    """acc += tap (di, dj) of channel c: VECTORS loads, FILTERS x VECTORS FMAs."""
    var v = StaticTuple[Vec, vectors]()
    comptime for u in range(vectors):
        v[u] = xc.unsafe_load[width=WIDTH](di * wp + dj + u * WIDTH)
    comptime for k in range(filters):
        var tap = Vec(p.weight(f0 + k, c, di, dj))
        comptime for u in range(vectors):
            acc[k * vectors + u] = fma(tap, v[u], acc[k * vectors + u])


def grid_pass[
    filters: Int, vectors: Int, taps: Int
](p: Conv, xb: FloatPtr, chan: Int, wp: Int, n: Int, r0: Int, rows: Int, f0: Int):
    """Filters f0 ... f0 + filters - 1 over the item's grid, from the buffer xb.

    ``taps`` = 3: a 3x3 window, its loops unrolled; 0: any window (KH, KW).
    """
    comptime step = WIDTH * vectors
    var last = (rows - 1) * wp + p.ow()  # grid points up to the last output
    var g = 0
    while g < last:
        var acc = StaticTuple[Vec, filters * vectors]()
        comptime for k in range(filters):
            var bias = Vec(p.b[unsafe_offset=f0 + k])
            comptime for u in range(vectors):
                acc[k * vectors + u] = bias
        for c in range(p.c):
            var xc = xb.unsafe_offset(c * chan + g)
            comptime if taps > 0:
                comptime for di in range(taps):
                    comptime for dj in range(taps):
                        add_tap[filters, vectors](p, xc, acc, f0, c, di, dj, wp)
            else:
                for di in range(p.kh):
                    for dj in range(p.kw):
                        add_tap[filters, vectors](p, xc, acc, f0, c, di, dj, wp)
        comptime for k in range(filters):
            comptime for u in range(vectors):
                var point = g + u * WIDTH
                store_grid(p, acc[k * vectors + u], n, f0 + k, r0, rows, wp, point)
        g += step


def grid_passes[
    taps: Int
](p: Conv, xb: FloatPtr, chan: Int, n: Int, r0: Int, rows: Int):
    """Every filter over the item's grid: FILTERS at a time, then one by one."""
    var wp = p.wd + 2 * p.pw
    var f0 = 0
    while f0 + FILTERS <= p.f:
        grid_pass[FILTERS, VECTORS, taps](p, xb, chan, wp, n, r0, rows, f0)
        f0 += FILTERS
    while f0 < p.f:  # the filters left over, one at a time
        grid_pass[1, 2 * VECTORS, taps](p, xb, chan, wp, n, r0, rows, f0)
        f0 += 1


@fieldwise_init
struct DirectJob(Job):
    """Work item n * blocks + k: output rows k * block_rows ... of image n."""

    var p: Conv
    var buffers: FloatPtr  # one buffer of C * chan floats per worker
    var chan: Int  # floats per channel in a buffer
    var block_rows: Int
    var blocks: Int

    def run(self, worker: Int, item: Int):
        var p = self.p
        var n, block = divmod(item, self.blocks)
        var r0 = block * self.block_rows
        var rows = min(self.block_rows, p.oh() - r0)
        var wp = p.wd + 2 * p.pw
        var xb = self.buffers.unsafe_offset(worker * p.c * self.chan)
        # The rows the block reads, zero-padded; zeros after them, for the
        # loads of the last grid points.
        for c in range(p.c):
            var dst = xb.unsafe_offset(c * self.chan)
            for r in range(rows + p.kh - 1):
                var si = r0 + r - p.ph
                var row = dst.unsafe_offset(r * wp)
                if 0 <= si < p.h:
                    var src = p.x.unsafe_offset(((n * p.c + c) * p.h + si) * p.wd)
                    for j in range(p.pw):
                        row[unsafe_offset=j] = 0
                    for j in range(p.wd):
                        row[unsafe_offset=p.pw + j] = src[unsafe_offset=j]
                    for j in range(p.pw + p.wd, wp):
                        row[unsafe_offset=j] = 0
                else:
                    for j in range(wp):
                        row[unsafe_offset=j] = 0
            for j in range((rows + p.kh - 1) * wp, self.chan):
                dst[unsafe_offset=j] = 0
        if p.kh == 3 and p.kw == 3:
            grid_passes[3](p, xb, self.chan, n, r0, rows)
        else:
            grid_passes[0](p, xb, self.chan, n, r0, rows)


def conv2d_direct(p: Conv):
    """Blocks of output rows of each image, on ``p.workers`` threads.

    Blocks are as tall as a buffer of about BUFFER_FLOATS allows, and, when
    there are few, as many as make every worker's share equal.
    """
    var oh, wp = p.oh(), p.wd + 2 * p.pw
    var most = max(1, BUFFER_FLOATS // (p.c * wp) - (p.kh - 1))
    var blocks = (oh + most - 1) // most
    while (p.n * blocks) % p.workers != 0 and blocks < oh:
        blocks += 1
    var block_rows = (oh + blocks - 1) // blocks
    blocks = (oh + block_rows - 1) // block_rows
    var chan = (block_rows + p.kh - 1) * wp + WIDTH * 2 * VECTORS + p.kw
    var buffers = List[Float32](length=p.workers * p.c * chan, fill=0)
    var job = DirectJob(p, untracked(buffers.unsafe_ptr()), chan, block_rows, blocks)
    run_parallel(job, p.n * blocks, p.workers)
    _ = buffers^  # Mojo frees a value after its last use: keep it until here
