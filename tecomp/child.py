"""Python child processes that answer JSON requests, one line each way.

Work that may crash, hang or must run under other environment variables (a tuning
candidate, a benchmark at another thread count, a peer simulator) runs in a child: the
parent sends a request, waits at most `timeout` seconds, and a dead or silent child becomes
a `ChildFailed` instead of taking the parent down. The child side is `serve(handle)`.

    child = Child(python_module("tecomp.tuning.worker"))
    answer = child.ask({"spec": ..., "knobs": ...}, timeout=60)
"""

import json
import os
import select
import subprocess
import sys
import traceback
from collections.abc import Callable


class ChildFailed(RuntimeError):
    """The child died, timed out or answered something that is not JSON."""


def python_module(module: str, *args: str) -> list[str]:
    """The command that runs `python -m module args...` with this interpreter."""
    return [sys.executable, "-m", module, *args]


class Child:
    """A long-lived child process; restarted at the next request after a failure."""

    def __init__(self, command: list[str], env: dict | None = None, stderr=None,
                 name: str | None = None, cwd: str | None = None):
        self.command = list(command)
        self.cwd = cwd
        self.name = name or (command[2] if command[1:2] == ["-m"] else command[0])
        self.env = {**os.environ, **(env or {})}
        self.stderr = stderr
        self.process: subprocess.Popen | None = None

    def ask(self, request: dict, timeout: float | None = None) -> dict:
        if self.process is None or self.process.poll() is not None:
            self.process = subprocess.Popen(self.command, stdin=subprocess.PIPE,
                                            stdout=subprocess.PIPE, stderr=self.stderr,
                                            env=self.env, text=True, cwd=self.cwd)
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
            ready, _, _ = select.select([self.process.stdout], [], [], timeout)
            line = self.process.stdout.readline() if ready else ""
        except (BrokenPipeError, OSError):
            ready, line = True, ""
        if line:
            try:
                return json.loads(line)
            except ValueError:
                self.close()
                raise ChildFailed(f"{self.name} answered {line[:200]!r}") from None
        if ready:  # end of file: the child is gone
            reason = f"{self.name} died (exit code {self.process.wait()})"
        else:
            reason = f"{self.name} timed out after {timeout:g} s"
        self.close()
        raise ChildFailed(reason)

    def close(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait()
            for pipe in (self.process.stdin, self.process.stdout):
                if pipe is not None:
                    pipe.close()
            self.process = None

    def __enter__(self) -> "Child":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def ask_once(command: list[str], request: dict, timeout: float | None = None,
             env: dict | None = None) -> dict:
    """Start a child, ask one request, stop it."""
    with Child(command, env) as child:
        return child.ask(request, timeout)


def serve(handle: Callable[[dict], dict]) -> None:
    """The child side: answer each request line with `handle(request)`; an exception in
    `handle` becomes `{"error": ..., "traceback": ...}` and the loop goes on.

    Only the answers reach the parent's pipe: Python's prints and whatever C or C++ code or
    a subprocess writes to file descriptor 1 (LLVM, a peer's build) go to stderr."""
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    for line in sys.stdin:
        try:
            answer = handle(json.loads(line))
        except Exception as err:
            answer = {"error": f"{type(err).__name__}: {err}"[:2000],
                      "traceback": traceback.format_exc()[-4000:]}
        out.write(json.dumps(answer) + "\n")
        out.flush()
