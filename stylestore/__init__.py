"""Stylestore: neural style-transfer variants of product images for Django shops."""

__version__ = "0.1.0"
