"""Integrations of Stylestore with other Django apps, each an installable app."""
