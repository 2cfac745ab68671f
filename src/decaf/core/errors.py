"""The one error family of decaf.

Every failure a user can cause (a bad file, a bad option, missing weights) raises a
:class:`DecafError` subclass whose message names the thing that is wrong and, where there is
one, the fix. The CLI turns any of them into ``error: ...`` and exit code 2; the server turns
them into a Cloud-Vision-style error object. Anything else escaping is a bug in decaf.
"""

from __future__ import annotations


class DecafError(Exception):
    """Base class of every user-facing decaf error."""


class ImageError(DecafError):
    """An image could not be read or written (missing, empty, truncated, not an image, too big)."""


class WeightsError(DecafError):
    """Pretrained weights were asked for but none are available offline."""


class OptionError(DecafError, ValueError):
    """An option or argument is out of range or contradicts another one."""


class WriteError(DecafError, OSError):
    """An output could not be written to the end (a full disk, a file-size limit, a quota):
    the target keeps its old content, or stays absent."""
