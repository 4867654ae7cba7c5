"""Example apps beside the main one (``example_app``): see each package's docstring."""
