"""Benchmarks of contagion (``make bench`` writes BENCHMARKS.md; docs/performance.md explains it).

One module per job: :mod:`.books` makes seeded books and compiles them the way ``contagion
run`` does; :mod:`.timing` times the kernel; :mod:`.numpy_baseline` is a vectorised-numpy
implementation of the same rounds and :mod:`.plain_python` loads the plain-Python reference
of the tests; :mod:`.throughput`, :mod:`.cascade`, :mod:`.comparisons`, :mod:`.sweep`,
:mod:`.memory` and :mod:`.startup` measure one kind of figure each; :mod:`.radcad_peer` runs
the peer cascade through the kernel and through radCAD (its own virtual environment, driven by
the standalone script ``radcad_driver.py``); :mod:`.machine` says what
they were measured on; :mod:`.targets` checks the targets of issue 6; :mod:`.report` writes the
markdown; :mod:`.run` runs it all.
"""
