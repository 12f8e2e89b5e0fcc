"""The read side: what a built dataset folder contains and how to read it.

The build writes this contract; hub, inspect, preview, export and evaluation only read it, through
this package, and never import the build's internals.
"""
