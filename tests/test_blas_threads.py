"""The thread policy keeps BLAS on one thread; blas_threads lends it every core for a while."""
import os
import subprocess
import sys

import pytest

from cnnlab import threads


def test_the_policy_runs_blas_on_one_thread():
    assert threads.POLICY["OPENBLAS_NUM_THREADS"] == "1"
    env = {k: v for k, v in os.environ.items() if k not in threads.POLICY}
    code = (
        "import cnnlab, numpy\n"
        "from threadpoolctl import threadpool_info\n"
        "from cnnlab import threads\n"
        "blas = [p for p in threadpool_info() if p['user_api'] == 'blas']\n"
        "print(threads.status().in_force, {p['num_threads'] for p in blas})\n"
        "with threads.blas_threads(2):\n"
        "    print({p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas'})\n"
        "print({p['num_threads'] for p in threadpool_info() if p['user_api'] == 'blas'})\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True)
    assert out.stdout.split("\n")[:3] == ["True {1}", "{2}", "{1}"]


@pytest.mark.parametrize("count", [0, -1, 1.5, True, "2"])
def test_blas_threads_rejects_bad_counts(count):
    with pytest.raises(ValueError, match="count"):
        threads.blas_threads(count)
