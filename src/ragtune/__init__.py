from ragtune._version import __version__
