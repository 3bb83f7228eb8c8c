"""Rung 2: SIMD, WIDTH outputs of a row at a time, on a zero-padded copy of x.

Rung 3 (``conv2d_parallel``) runs the same rows on every core.
"""

from std.math import fma

from conv_common import Conv, FloatPtr, Job, run_parallel, untracked

comptime WIDTH = 8
"""Floats per vector: 8 fill one 256-bit AVX2 register. Change it and rebuild."""


def pad_image(p: Conv, n: Int, xp: Pointer[mut=True, Float32, _]):
    """xp (C, H + 2 PH, W + 2 PW), already zero <- image n of x, shifted by the padding.

    The zeros around it are the padding: a tap there multiplies by 0 (an inf
    weight then gives NaN, as in PyTorch).
    """
    var hp, wp = p.h + 2 * p.ph, p.wd + 2 * p.pw
    for c in range(p.c):
        for i in range(p.h):
            var src = ((n * p.c + c) * p.h + i) * p.wd
            var dst = (c * hp + i + p.ph) * wp + p.pw
            for j in range(p.wd):
                xp[unsafe_offset=dst + j] = p.x[unsafe_offset=src + j]


def simd_row(p: Conv, xp: Pointer[mut=True, Float32, _], n: Int, f: Int, i: Int):
    """Output row i of image n, filter f, from its padded copy xp, WIDTH at a time.

    The last vector overlaps the one before it when OW is not a multiple of
    WIDTH (the overlapping outputs are computed twice, the same); a row
    shorter than WIDTH is done one output at a time.
    """
    var ow = p.ow()
    var hp, wp = p.h + 2 * p.ph, p.wd + 2 * p.pw
    var row = ((n * p.f + f) * p.oh() + i) * ow
    var bias = p.b[unsafe_offset=f]
    if ow < WIDTH:
        for j in range(ow):
            var acc = bias
            for c in range(p.c):
                for di in range(p.kh):
                    for dj in range(p.kw):
                        var v = xp[unsafe_offset=(c * hp + i + di) * wp + j + dj]
                        acc = fma(p.weight(f, c, di, dj), v, acc)
            p.out[unsafe_offset=row + j] = acc
        return
    var j = 0
    while j < ow:
        j = min(j, ow - WIDTH)
        var acc = SIMD[DType.float32, WIDTH](bias)
        for c in range(p.c):
            for di in range(p.kh):
                var src = (c * hp + i + di) * wp + j
                for dj in range(p.kw):
                    var v = xp.unsafe_load[width=WIDTH](src + dj)
                    var tap = SIMD[DType.float32, WIDTH](p.weight(f, c, di, dj))
                    acc = fma(tap, v, acc)
        p.out.unsafe_store(row + j, acc)
        j += WIDTH


def conv2d_simd(p: Conv):
    """Every output row, one thread; one padded image at a time."""
    var plane = p.c * (p.h + 2 * p.ph) * (p.wd + 2 * p.pw)
    var xp = List[Float32](length=plane, fill=0)
    for n in range(p.n):
        pad_image(p, n, xp.unsafe_ptr())
        for f in range(p.f):
            for i in range(p.oh()):
                simd_row(p, xp.unsafe_ptr(), n, f, i)


@fieldwise_init
struct PadJob(Job):
    """Work item n: pad image n into its slot of xp."""

    var p: Conv
    var xp: FloatPtr
    var plane: Int

    def run(self, worker: Int, item: Int):
        pad_image(self.p, item, self.xp.unsafe_offset(item * self.plane))


@fieldwise_init
struct RowJob(Job):
    """Work item (n * F + f) * OH + i: output row i of image n, filter f."""

    var p: Conv
    var xp: FloatPtr
    var plane: Int

    def run(self, worker: Int, item: Int):
        var nf, i = divmod(item, self.p.oh())
        var n = nf // self.p.f
        simd_row(self.p, self.xp.unsafe_offset(n * self.plane), n, nf % self.p.f, i)


def conv2d_parallel(p: Conv):
    """conv2d_simd on ``p.workers`` threads: first all images padded, then the rows."""
    var plane = p.c * (p.h + 2 * p.ph) * (p.wd + 2 * p.pw)
    var xp = List[Float32](length=p.n * plane, fill=0)
    var base = untracked(xp.unsafe_ptr())
    run_parallel(PadJob(p, base, plane), p.n, p.workers)
    run_parallel(RowJob(p, base, plane), p.n * p.f * p.oh(), p.workers)
    _ = xp^  # Mojo frees a value after its last use: keep xp until here
