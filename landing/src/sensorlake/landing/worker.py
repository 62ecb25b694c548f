"""Entry point of a landing worker process (see :mod:`segments`): ``python -m sensorlake.landing.worker``."""

import sys

from .segments import serve

if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
