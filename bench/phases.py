"""Where ``extract``'s time goes with worker processes: one run, timed per phase.

    .venv/bin/python bench/phases.py extract IMAGE -o OUT --format json_line [extract flags]

Prints, on stderr, when the main process has handed every file out, when
the last worker result is in, how long the reduce pass (more runs than the
merge reads at once) and the two-half merge take, with this process's CPU
time and peak memory at each step. For looking, not for asserting: the
figures in docs/performance.md come from bench/scale.py.
"""

from __future__ import annotations

import os
import resource
import sys
import time

# The repository first (sandtrace from this checkout), and not bench/ itself: the
# spawned workers get this path, and no bench script should shadow a package.
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [os.path.dirname(HERE)] + [p for p in sys.path if os.path.abspath(p or ".") != HERE]
STARTED = time.monotonic()


def _say(what: str) -> None:
    cpu = os.times()
    print(f"{time.monotonic() - STARTED:8.2f} s  {what}  (main: user {cpu.user:.2f} s, sys {cpu.system:.2f} s, "
          f"peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB)", file=sys.stderr)


def main() -> int:
    from sandtrace import cli
    from sandtrace.pipeline import parallel
    from sandtrace.timeline import runs

    finish, results, reduce, halves = (parallel.LinePipeline.finish, parallel.LinePipeline._results,
                                       runs.reduce_runs, parallel.LinePipeline._write_halves)

    def timed_finish(self):
        _say(f"main process done, {len(self.pending)} files or disks handed out")
        return finish(self)

    def timed_results(self):
        yield from results(self)
        _say("last worker result in")

    def timed_reduce(runs, directory, *rest):
        kept = reduce(runs, directory, *rest)
        _say(f"reduce pass: {len(runs)} runs -> {len(kept)}")
        return kept

    def timed_halves(self, runs, point, include_all):
        halves(self, runs, point, include_all)
        _say("merge in two halves written")

    parallel.LinePipeline.finish = timed_finish
    parallel.LinePipeline._results = timed_results
    runs.reduce_runs = timed_reduce
    parallel.LinePipeline._write_halves = timed_halves
    code = cli.main(sys.argv[1:])
    _say("end")
    return code


if __name__ == "__main__":  # workers are spawned: they import this module without running it
    sys.exit(main())
