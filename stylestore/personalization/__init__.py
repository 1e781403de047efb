"""Personalization: which existing stylized variant each visitor sees.

``policy`` and ``evaluation`` are pure (numpy, no Django) so they can be tested and
simulated in isolation (``bench/personalization.py``); the Django modules of this
package store visitor state and events and call into them.
"""
