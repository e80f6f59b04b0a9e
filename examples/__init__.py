"""Example applications served by morello (``morello examples.hello:app``)."""
