"""Thread choice: the cores other processes keep busy are left alone; our own work is not counted."""

import subprocess
import sys

from ragtune.generate.base import busy_elsewhere, free_threads


def test_explicit_setting_wins():
    assert free_threads(3) == 3


def test_a_spinning_process_counts_as_busy_and_our_own_work_does_not():
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        others = busy_elsewhere(0.5)
        assert others is not None and others >= 0.5  # the spinning child holds most of a core
    finally:
        spin.kill()
        spin.wait()
    # Our own busy thread is left out of the count.
    import threading

    stop = threading.Event()

    def burn():
        while not stop.is_set():
            sum(range(1000))

    t = threading.Thread(target=burn)
    t.start()
    try:
        mine = busy_elsewhere(0.5)
    finally:
        stop.set()
        t.join()
    assert mine is not None and mine < others
