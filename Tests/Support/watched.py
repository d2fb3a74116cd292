#!/usr/bin/env python3
"""Runs a command as a child and kills it when this process's parent (the test runner) goes away
or when this process gets SIGTERM, so that a crashed test run leaves no server behind.

    watched.py COMMAND [ARGS...]
"""
import os
import signal
import subprocess
import sys
import time

parent = os.getppid()
child = subprocess.Popen(sys.argv[1:])


def stop(*_):
    child.kill()
    child.wait()
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
while child.poll() is None:
    if os.getppid() != parent:
        stop()
    time.sleep(0.5)
sys.exit(child.returncode)
