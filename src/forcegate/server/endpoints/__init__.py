"""The service's endpoints, one module-level function each, grouped by what they serve.

Each reads the request through :mod:`forcegate.server.request`, calls the application services found
in the scope (:func:`forcegate.server.runtime.runtime`), and returns or sends its answer. None catches
a :class:`~forcegate.errors.ForcegateError`: the application renders every refusal in one place
(:mod:`forcegate.server.responses`).
"""
