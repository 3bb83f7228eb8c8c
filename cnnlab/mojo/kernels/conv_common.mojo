"""What every rung shares: the arguments of a convolution, and the thread pool.

The Python side (cnnlab/mojo/conv.py) validates the arrays and passes their
addresses: x (N, C, H, W), w (F, C, KH, KW), b (F,) and out (N, F, OH, OW), all
float32 and C-contiguous. Stride 1; any zero padding (PH, PW).
"""

from std.python import PythonObject
from std.runtime._asyncrt import TaskGroup

comptime FloatPtr = Pointer[mut=True, Float32, MutUntrackedOrigin]


@fieldwise_init
struct Conv(ImplicitlyCopyable, Movable):
    """The arrays (by address) and sizes of one convolution."""

    var x: FloatPtr
    var w: FloatPtr
    var b: FloatPtr
    var out: FloatPtr
    var n: Int
    var c: Int
    var h: Int
    var wd: Int
    var f: Int
    var kh: Int
    var kw: Int
    var ph: Int
    var pw: Int
    var workers: Int

    @staticmethod
    def from_python(args: PythonObject) raises -> Conv:
        """From the tuple (x, w, b, out, N, C, H, W, F, KH, KW, PH, PW, workers)."""
        return Conv(
            FloatPtr(unsafe_from_address=Int(py=args[0])),
            FloatPtr(unsafe_from_address=Int(py=args[1])),
            FloatPtr(unsafe_from_address=Int(py=args[2])),
            FloatPtr(unsafe_from_address=Int(py=args[3])),
            Int(py=args[4]),
            Int(py=args[5]),
            Int(py=args[6]),
            Int(py=args[7]),
            Int(py=args[8]),
            Int(py=args[9]),
            Int(py=args[10]),
            Int(py=args[11]),
            Int(py=args[12]),
            Int(py=args[13]),
        )

    def oh(self) -> Int:
        return self.h + 2 * self.ph - self.kh + 1

    def ow(self) -> Int:
        return self.wd + 2 * self.pw - self.kw + 1

    def weight(self, f: Int, c: Int, di: Int, dj: Int) -> Float32:
        return self.w[unsafe_offset=((f * self.c + c) * self.kh + di) * self.kw + dj]


trait Job(ImplicitlyCopyable, Movable):
    """A parallel loop's body: ``run(worker, item)`` does work item ``item``."""

    def run(self, worker: Int, item: Int):
        ...


__async def _run_items[J: Job](job: J, worker: Int, items: Int, workers: Int):
    for item in range(worker * items // workers, (worker + 1) * items // workers):
        job.run(worker, item)


def run_parallel[J: Job](job: J, items: Int, workers: Int):
    """job.run(worker, item) for item in 0 ... items - 1, on ``workers`` threads.

    Worker k takes one contiguous run of items, so it can reuse one scratch
    buffer. The mojo wheel has no ``parallelize`` (it moved to the MAX
    package), so this is the few lines of it we need, on the standard
    library's task runtime. The body is a struct, not a closure: in Mojo 1.2
    a closure that captures local variables crashes when it runs as a task.
    """
    var tasks = min(items, workers)
    var group = TaskGroup()
    for worker in range(tasks):
        group.create_task(_run_items(job, worker, items, tasks))
    group.wait()


def untracked(ptr: Pointer[mut=True, Float32, _]) -> FloatPtr:
    """The same address as a pointer the compiler does not track (like x's)."""
    return FloatPtr(unsafe_from_address=Int(ptr))
