"""Exceptions raised by the engine.

Callers (the job runner, admin forms, the API) decide what to do by type: an
``ImageError`` is the input's fault and fails only that image; a ``WeightsError``
is the machine's fault and must not burn a job's attempts; a ``StyleSpecError`` is
a caller's mistake in choosing a style or option.
"""


class EngineError(Exception):
    """Base class for every error the engine raises on purpose."""


class ImageError(EngineError, ValueError):
    """An input image was refused. The message is safe to show to a shop admin."""


class UnsupportedFormat(ImageError):
    """The content is not an allowed image format, or the name lies about it."""


class ImageTooLarge(ImageError):
    """Too many pixels (or frames x pixels), or too many bytes, to decode safely."""


class ImageTooSmall(ImageError):
    """Smaller than the networks can work with."""


class CorruptImage(ImageError):
    """Truncated or undecodable content."""


class StyleSpecError(EngineError, ValueError):
    """A style or render option is invalid (bad preset index, strength out of range...)."""


class WeightsError(EngineError):
    """Packaged weights are missing or unreadable: an infrastructure problem."""


class NonFiniteOutput(EngineError):
    """A network produced NaN or infinity; the result must not be stored."""
