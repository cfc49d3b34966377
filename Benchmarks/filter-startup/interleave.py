#!/usr/bin/env python3
"""Times whole processes, interleaved: each round runs every command once, in turn.

usage: interleave.py ROUNDS NAME=STDIN_FILE::PREPARE::ARGV... (see run.sh)

Each command is NAME, the file on its standard input (or -), a preparation argv run before it
and outside the clock (or -), and its argv, separated by '::'. Started with posix_spawn (no
shell), standard output to /dev/null; the clock is the wall time from spawn to wait4, and
wait4's rusage gives the process's own CPU time (user + system), which moves less than the
wall time on a shared machine. Prints one line per command: median and first quartile of both.
"""
import os
import statistics
import sys
import time


def spawn(argv, stdin_path):
    devnull = os.open("/dev/null", os.O_WRONLY)
    stdin = os.open(stdin_path if stdin_path != "-" else "/dev/null", os.O_RDONLY)
    actions = [(os.POSIX_SPAWN_DUP2, stdin, 0), (os.POSIX_SPAWN_DUP2, devnull, 1)]
    start = time.perf_counter_ns()
    pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter_ns() - start
    os.close(devnull)
    os.close(stdin)
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{argv}: exit {os.waitstatus_to_exitcode(status)}")
    return wall / 1e6, (usage.ru_utime + usage.ru_stime) * 1e3


def main():
    rounds = int(sys.argv[1])
    commands = []
    for spec in sys.argv[2:]:
        name, rest = spec.split("=", 1)
        stdin, prepare, argv = rest.split("::", 2)
        commands.append((name, stdin, None if prepare == "-" else prepare.split(" "), argv.split(" ")))
    walls = {c[0]: [] for c in commands}
    cpus = {c[0]: [] for c in commands}
    for _ in range(rounds):
        for name, stdin, prepare, argv in commands:
            if prepare:
                spawn(prepare, "-")
            wall, cpu = spawn(argv, stdin)
            walls[name].append(wall)
            cpus[name].append(cpu)
    for name, *_ in commands:
        w, c = walls[name], cpus[name]
        print(f"{name}\twall median {statistics.median(w):.2f} ms (q1 {statistics.quantiles(w)[0]:.2f})"
              f"\tcpu median {statistics.median(c):.2f} ms (q1 {statistics.quantiles(c)[0]:.2f})")


main()
