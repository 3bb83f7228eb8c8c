"""Rung 1: plain loops, one output at a time, as the blog's part 1 wrote them."""

from conv_common import Conv


def conv2d_loops(p: Conv):
    """out[n, f, i, j] = b[f] + sum over c, di, dj of w[f, c, di, dj] * x[...].

    A tap that falls on the padding reads 0 (so an inf weight there gives
    NaN, as in PyTorch).
    """
    var oh, ow = p.oh(), p.ow()
    for n in range(p.n):
        for f in range(p.f):
            for i in range(oh):
                for j in range(ow):
                    var acc = p.b[unsafe_offset=f]
                    for c in range(p.c):
                        for di in range(p.kh):
                            for dj in range(p.kw):
                                var si, sj = i + di - p.ph, j + dj - p.pw
                                var v: Float32 = 0
                                if 0 <= si < p.h and 0 <= sj < p.wd:
                                    v = p.x[
                                        unsafe_offset=((n * p.c + c) * p.h + si)
                                        * p.wd
                                        + sj
                                    ]
                                acc += p.weight(f, c, di, dj) * v
                    p.out[unsafe_offset=((n * p.f + f) * oh + i) * ow + j] = acc
