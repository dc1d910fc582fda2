"""The tooling wing: benchmark, peers, plots, demo and the tecomp-tune command line.

It uses the library through its public API only; the library never imports it.
"""
