"""Web-framework integrations built on :mod:`forcegate.resource` (docs/django.md, …).

Each is an extra (``pip install 'forcegate[django]'``, ``'forcegate[drf]'`` …) and only moves values
between its framework and a resource verifier; nothing else in forcegate imports them.
"""
